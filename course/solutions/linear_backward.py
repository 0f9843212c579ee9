def linear_backward(x, w, dout):
    """dx and dw for out[i] = sum_j w[i][j] x[j] (see exercises/linear_backward.py)."""
    # w[i][j] changes only out[i], at the rate x[j]
    dw = [[d * xj for xj in x] for d in dout]
    # x[j] changes every out[i], at the rate w[i][j]: add up over the outputs (w transposed, times dout)
    dx = [sum(w[i][j] * dout[i] for i in range(len(w))) for j in range(len(x))]
    return dx, dw
