import math


def adam_step(p, g, m, v, t, lr, beta1=0.85, beta2=0.99, eps=1e-8):
    """One Adam step for one parameter; t counts from 1 (see exercises/adam_step.py)."""
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat = m / (1 - beta1 ** t)  # m and v started at 0: after t steps they are short by (1 - beta^t)
    v_hat = v / (1 - beta2 ** t)
    return p - lr * m_hat / (math.sqrt(v_hat) + eps), m, v
