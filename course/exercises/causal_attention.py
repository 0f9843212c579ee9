def causal_attention(q, k, v):
    """One head of causal self-attention, forward.

    q, k: T rows (positions) of d numbers each; v: T rows of d_v numbers.
    Returns out, T rows of d_v numbers:

        out[t] = sum over s <= t of a[t][s] * v[s]
        a[t] = softmax over s = 0..t of (q[t] . k[s]) / sqrt(d)        (. is the dot product)

    Position t never looks at a later position. Large scores must work too.
    """
    raise NotImplementedError
