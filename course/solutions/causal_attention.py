import math


def causal_attention(q, k, v):
    """out[t] = sum_{s<=t} softmax_s(q[t] . k[s] / sqrt(d)) v[s] (see exercises/causal_attention.py)."""
    d = len(q[0])
    out = []
    for t in range(len(q)):
        scores = [sum(a * b for a, b in zip(q[t], k[s])) / math.sqrt(d) for s in range(t + 1)]  # s <= t only
        m = max(scores)
        exps = [math.exp(e - m) for e in scores]
        total = sum(exps)
        weights = [e / total for e in exps]
        out.append([sum(weights[s] * v[s][j] for s in range(t + 1)) for j in range(len(v[t]))])
    return out
