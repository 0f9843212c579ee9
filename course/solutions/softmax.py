import math


def softmax(logits):
    """probs[i] = exp(logits[i]) / sum_j exp(logits[j]) (see exercises/softmax.py)."""
    m = max(logits)  # exp(l - m) / sum exp(l_j - m) is the same ratio, and no exponent is above 0
    exps = [math.exp(logit - m) for logit in logits]
    total = sum(exps)  # at least 1: the largest logit contributes exp(0)
    return [e / total for e in exps]
