import math


def cross_entropy(logits, target):
    """loss = -log softmax(logits)[target] and d loss / d logits (see exercises/cross_entropy.py)."""
    m = max(logits)
    exps = [math.exp(logit - m) for logit in logits]
    total = sum(exps)
    # -log(exp(l_t) / sum_j exp(l_j)) = log(sum_j exp(l_j)) - l_t: no log of a probability that may be 0
    loss = m + math.log(total) - logits[target]
    # d/dl_i log(sum_j exp(l_j)) = softmax_i, and d/dl_i (-l_t) = -1 at i = t
    dlogits = [e / total - (1.0 if i == target else 0.0) for i, e in enumerate(exps)]
    return loss, dlogits
