def cross_entropy(logits, target):
    """The loss of one prediction, and its gradient with respect to the logits.

    logits: a list of V numbers (V >= 1); target: the index (0..V-1) of the right answer.
    Returns (loss, dlogits):

        loss = -log softmax(logits)[target]
        dlogits[i] = d loss / d logits[i]          (a list of V numbers)

    It must work for large logits too, e.g. [1000.0, 0.0, -1000.0] with target 1, where the target's
    probability is too small for a float (log(0) fails) yet the loss is a plain 1000.
    """
    raise NotImplementedError
