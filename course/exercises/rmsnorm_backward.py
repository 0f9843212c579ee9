def rmsnorm_backward(x, dout, eps=1e-5):
    """The backward pass of RMSNorm (no learned gain, as in the course's GPT).

    Forward, for x a list of n numbers:   y[i] = x[i] / sqrt(mean(x^2) + eps),   mean(x^2) = sum_j x[j]^2 / n
    dout: the gradient of the loss with respect to y (n numbers).
    Returns dx, the gradient of the loss with respect to x (n numbers). Every y[i] depends on every
    x[j], through the mean.
    """
    raise NotImplementedError
