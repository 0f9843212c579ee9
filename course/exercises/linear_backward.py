def linear_backward(x, w, dout):
    """The backward pass of a linear layer (no bias).

    Forward: out[i] = sum over j of w[i][j] * x[j], with x a list of n_in numbers and w a matrix of
    n_out rows, each of n_in numbers (row i holds the weights feeding output i); out has n_out numbers.
    dout: the gradient of the loss with respect to out (n_out numbers).
    Returns (dx, dw): the gradient of the loss with respect to x (n_in numbers) and to w (n_out rows of
    n_in numbers, w's shape).
    """
    raise NotImplementedError
