def adam_step(p, g, m, v, t, lr, beta1=0.85, beta2=0.99, eps=1e-8):
    """One step of Adam for one parameter, as the course's and the package's optimizer takes it.

    p: the parameter, g: its gradient, m and v: its running means of the gradient and of its square
    (both 0.0 before the first step), t: the number of this step, counting from 1, lr: the learning rate.
    Returns (p, m, v), all updated:

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g^2
        p = p - lr * m_hat / (sqrt(v_hat) + eps),   m_hat = m / (1 - beta1^t),   v_hat = v / (1 - beta2^t)
    """
    raise NotImplementedError
