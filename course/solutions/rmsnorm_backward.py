def rmsnorm_backward(x, dout, eps=1e-5):
    """dx for y = x / sqrt(mean(x^2) + eps) (see exercises/rmsnorm_backward.py)."""
    n = len(x)
    r = (sum(xi * xi for xi in x) / n + eps) ** -0.5
    # y_i = x_i r:  dy_i/dx_j = r [i == j] + x_i dr/dx_j,  and  dr/dx_j = -r^3 x_j / n
    s = sum(d * xi for d, xi in zip(dout, x))
    return [r * d - r ** 3 * xj * s / n for d, xj in zip(dout, x)]
