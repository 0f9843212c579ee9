def softmax_backward(probs, dprobs):
    """The backward pass of a softmax.

    Forward: probs = softmax(logits), V numbers. dprobs: the gradient of the loss with respect to probs
    (V numbers). Returns dlogits, the gradient of the loss with respect to the logits (V numbers).
    Only probs is needed, not the logits themselves.
    """
    raise NotImplementedError
