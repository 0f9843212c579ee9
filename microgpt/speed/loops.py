"""The fast engine's forward/backward pairs, as plain loops on flat lists of floats.

Every operation comes as a pair, in the manner of llm.c:  *_forward(...) -> out (and what the backward
needs)  and  *_backward(dout, ...) -> input gradients,  the chain rule applied by hand. engine.py calls
them, op by op, as the model's forward pass asks; this file is the reference for their numbers.

The forwards do the reference's arithmetic in the reference's order (sums left to right, x**-0.5,
e * total**-1, (1/n) * sum), so logits and losses are the scalar engine's to the last bit. The backwards
compute the same derivatives in a different order, so gradients agree to rounding (about 1e-15 relative).
Never use the builtin sum() on floats here: from Python 3.12 it rounds differently (compensated).

On CPython, kernels.py computes the six hot pairs (linear, rmsnorm, attention) with the same sums as code
generated for each size, about 3x faster; engine.py chooses which (MICROGPT_KERNELS=0: these loops).

A tensor is a flat list in row-major order: x[t * C + c] is channel c at position t.
Letters: T = positions, C = channels, V = vocabulary, nh = heads, hs = head size C // nh.
"""

import math

# --------------------------------------------------------------------------------------------------
# the forward/backward pairs


def dot(a, i, b, j, n):
    # a[i:i+n] . b[j:j+n], summed left to right from the first product
    acc = a[i] * b[j]
    for m in range(1, n):
        acc += a[i + m] * b[j + m]
    return acc


def matmul(a, b, n):
    """a @ b^T for flat row-major a (R, n) and b (S, n): out[r * S + s] = sum_j a[r, j] b[s, j], (R, S).

    Two rows of a against two rows of b at a time: each pass over j reads four numbers and feeds four
    sums, where one entry at a time reads two numbers for each sum (PyPy's JIT keeps the sums and the
    numbers in registers: batch-32 steps ~1.2-1.4x faster). Each sum is still dot()'s, from its first
    product, left to right; what the pairs leave (an odd last row or column) is dot()s.
    """
    R, S = len(a) // n, len(b) // n
    even_R, even_S = R - R % 2, S - S % 2
    out = [0.0] * (R * S)
    for r in range(0, even_R, 2):
        i0, i1 = r * n, r * n + n
        for s in range(0, even_S, 2):
            j0, j1 = s * n, s * n + n
            x0, x1, y0, y1 = a[i0], a[i1], b[j0], b[j1]
            c00, c01, c10, c11 = x0 * y0, x0 * y1, x1 * y0, x1 * y1
            for m in range(1, n):
                x0, x1, y0, y1 = a[i0 + m], a[i1 + m], b[j0 + m], b[j1 + m]
                c00 += x0 * y0
                c01 += x0 * y1
                c10 += x1 * y0
                c11 += x1 * y1
            out[r * S + s], out[r * S + s + 1] = c00, c01
            out[r * S + S + s], out[r * S + S + s + 1] = c10, c11
    for r in range(R):  # the last column if S is odd, the whole last row if R is odd
        for s in range(S) if r == even_R else range(even_S, S):
            out[r * S + s] = dot(a, r * n, b, s * n, n)
    return out


def transpose(a, cols):
    """(R, cols) -> (cols, R): column c of a is the slice a[c::cols]."""
    out = []
    for c in range(cols):
        out += a[c::cols]
    return out


def linear_forward(x, W, n_in):
    # out[t, o] = sum_i W[o, i] x[t, i]:  (T, n_in) @ (n_out, n_in)^T -> (T, n_out)
    return matmul(x, W, n_in)


def linear_backward(dout, x, W, n_in, n_out, needed=None):
    # dx[t, i] = sum_o dout[t, o] W[o, i]  = dout @ (W^T)^T
    # dW[o, i] = sum_t dout[t, o] x[t, i]  = dout^T @ (x^T)^T
    # `needed`, if given, is zero where the caller will throw dx away (a ReLU's backward reads dx only
    # where its output was positive); the kernels skip those entries, this plain version computes them.
    T = len(x) // n_in
    return matmul(dout, transpose(W, n_in), n_out), matmul(transpose(dout, n_out), transpose(x, n_in), T)


def rmsnorm_forward(x, C):
    # y = x * rstd,  rstd = (mean(x^2) + eps)^-0.5, per position; rstd is kept for the backward
    out, rstds = [], []
    inv_C = C ** -1
    for r in range(0, len(x), C):
        row = x[r:r + C]
        ms = 0
        for xi in row:
            ms += xi * xi
        rstd = (ms * inv_C + 1e-5) ** -0.5
        rstds.append(rstd)
        out += [xi * rstd for xi in row]
    return out, rstds


def rmsnorm_backward(dout, x, rstds, C):
    # dx_j = rstd dy_j - (rstd^3 / C) x_j sum_i dy_i x_i
    dx = []
    for r, rstd in zip(range(0, len(x), C), rstds):
        row, drow = x[r:r + C], dout[r:r + C]
        acc = 0.0
        for xi, di in zip(row, drow):
            acc += xi * di
        k = rstd ** 3 * acc / C
        dx += [rstd * di - k * xi for xi, di in zip(row, drow)]
    return dx


def softmax(row):
    # max-subtracted (so exp cannot overflow), e * total**-1, total summed left to right from 0
    m = max(row)
    exps = [math.exp(l - m) for l in row]
    total = 0
    for e in exps:
        total += e
    inv = total ** -1
    return [e * inv for e in exps]


def weighted_sum(w, x, start, stride):
    # sum_s w[s] x[start + s * stride], summed left to right from 0: a column of x weighted by w
    acc = 0.0
    for s, ws in enumerate(w):
        acc += ws * x[start + s * stride]
    return acc


def attention_forward(q, k, v, C, n_head, past=0):
    """Causal self-attention, per head h: a_t = softmax_{s <= t}(q_t . k_s / sqrt(hs)), out_t = sum_s a_s v_s.

    q holds T positions that come after `past` positions already in k and v (a KV cache), so k and v hold
    past + T positions. Returns out (T, C) and the weights atts[t][h][s], which attention_backward reads.
    """
    hs = C // n_head
    scale = (hs ** 0.5) ** -1
    out, atts = [], []
    for t in range(len(q) // C):
        seen = past + t + 1  # position t sees itself and everything before it, never after
        att_t = [softmax([dot(q, t * C + h, k, s * C + h, hs) * scale for s in range(seen)]) for h in range(0, C, hs)]
        out += [weighted_sum(att_t[c // hs], v, c, C) for c in range(C)]  # out[t, c] = sum_s a_s v[s, c]
        atts.append(att_t)
    return out, atts


def attention_backward(dout, q, k, v, atts, C, n_head):
    """(dq, dk, dv) for attention_forward without a KV cache: q, k and v all hold the same T positions."""
    hs = C // n_head
    scale = (hs ** 0.5) ** -1
    T = len(q) // C
    dq, dlogits = [], []  # dlogits[t][h][s]: d loss / d (q_t . k_s) of head h, after the 1/sqrt(hs)
    for t in range(T):
        dl_t = []
        for a, h in zip(atts[t], range(0, C, hs)):
            da = [dot(dout, t * C + h, v, s * C + h, hs) for s in range(t + 1)]  # through out_t = sum_s a_s v_s
            mix = 0.0
            for a_s, da_s in zip(a, da):
                mix += a_s * da_s
            dl_t.append([a_s * (da_s - mix) * scale for a_s, da_s in zip(a, da)])  # through the softmax
        dq += [weighted_sum(dl_t[c // hs], k, c, C) for c in range(C)]  # dq[t, c] = sum_s dl_ts k[s, c]
        dlogits.append(dl_t)
    dk, dv = [], []
    for s in range(T):  # position s is seen by t = s..T-1
        for c in range(C):
            dv.append(weighted_sum([atts[t][c // hs][s] for t in range(s, T)], dout, s * C + c, C))  # sum_t a_ts dout_t
            dk.append(weighted_sum([dlogits[t][c // hs][s] for t in range(s, T)], q, s * C + c, C))  # sum_t dl_ts q_t
    return dq, dk, dv


def nll_forward(logits, targets, V):
    # -log softmax(logits)[target] per position; probs are kept for the backward
    losses, probs = [], []
    for t, target in enumerate(targets):
        p = softmax(logits[t * V:(t + 1) * V])
        probs.append(p)
        # a probability that underflowed to 0 (a diverging run) costs infinitely much, it is not an error
        losses.append(-math.log(p[target]) if p[target] > 0 else math.inf)
    return losses, probs


def nll_backward(dlosses, probs, targets):
    # d(-log p_target)/d logit_v = p_v - [v == target]
    dlogits = []
    for d, p, target in zip(dlosses, probs, targets):
        row = [pv * d for pv in p]
        row[target] -= d
        dlogits += row
    return dlogits
