def softmax(logits):
    """Turn scores into probabilities.

    logits: a list of V numbers (V >= 1).
    Returns probs, a list of V numbers:

        probs[i] = exp(logits[i]) / sum over j of exp(logits[j])

    Every probs[i] is in [0, 1] and they sum to 1. It must work for any floats, also large ones such as
    [1000.0, 999.0] (math.exp(1000.0) is too big for a float) and very negative ones.
    """
    raise NotImplementedError
