def sample_next(logits, temperature, u):
    """Draw the next token: the index that a uniform random number u picks.

    logits: a list of V numbers (V >= 1); temperature > 0; u: a number in [0, 1), as random.random() gives.
    The probabilities are p = softmax([l / temperature for l in logits]). Returns the smallest index i
    whose cumulative probability p[0] + p[1] + ... + p[i] is greater than u (strictly): an int.

    So a token of probability 0 is never drawn, and u uniform in [0, 1) draws token i with probability p[i].
    Large logits must work too.
    """
    raise NotImplementedError
