import math


def sample_next(logits, temperature, u):
    """The smallest i with p_0 + ... + p_i > u, p = softmax(logits / temperature) (see exercises/sample_next.py)."""
    scaled = [logit / temperature for logit in logits]
    m = max(scaled)
    exps = [math.exp(s - m) for s in scaled]
    total = sum(exps)
    cumulative = 0.0
    for i, e in enumerate(exps):
        cumulative += e / total
        if cumulative > u:  # strictly: a token of probability 0 adds nothing and is never chosen
            return i
    return len(logits) - 1  # only if rounding left the total a hair below u
