"""The fast engine: the model's operations on flat lists of floats, each with a hand-written backward.

Every operation comes as a pair, in the manner of llm.c:  *_forward(...) -> out (and what the backward
needs)  and  *_backward(dout, ...) -> input gradients,  the chain rule applied by hand. FastOps records
the pairs on a tape as model.GPT.forward calls them, and backward() calls the backwards in reverse order.
No graph of scalar nodes is built, which is where the scalar engine spends its time.

This file is the whole engine, written as plain loops. On CPython the six hot functions (the linear
layer, rmsnorm and attention, forward and backward) are replaced at import by code generated for each size
(kernels.py), about 3x faster and computing the same numbers; PyPy's JIT compiles these loops itself.

The forwards do the reference's arithmetic in the reference's order (sums left to right, x**-0.5,
e * total**-1, (1/n) * sum), so logits and losses are the scalar engine's to the last bit. The backwards
compute the same derivatives in a different order, so gradients agree to rounding (about 1e-15 relative).
Never use the builtin sum() on floats here: from Python 3.12 it rounds differently (compensated).

A tensor is a flat list in row-major order: x[t * C + c] is channel c at position t.
Letters: T = positions, C = channels, V = vocabulary, nh = heads, hs = head size C // nh.
"""

import collections
import math
import os
import platform

# --------------------------------------------------------------------------------------------------
# the forward/backward pairs


def dot(a, i, b, j, n):
    # a[i:i+n] . b[j:j+n], summed left to right from the first product
    acc = a[i] * b[j]
    for m in range(1, n):
        acc += a[i + m] * b[j + m]
    return acc


def matmul(a, b, n):
    """a @ b^T for flat row-major a (R, n) and b (S, n): out[r * S + s] = sum_j a[r, j] b[s, j], (R, S)."""
    out = []
    for r in range(0, len(a), n):
        for s in range(0, len(b), n):
            acc = a[r] * b[s]  # summed left to right from the first product, as dot()
            for j in range(1, n):
                acc += a[r + j] * b[s + j]
            out.append(acc)
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


# --------------------------------------------------------------------------------------------------
# the op set of model.GPT.forward, recording each backward on a tape

class Tensor:
    __slots__ = ("data", "rows", "cols", "grad", "grad_mask")

    def __init__(self, data, rows, cols):
        self.data, self.rows, self.cols = data, rows, cols
        self.grad = None  # filled by the backward pass; never modified in place, so it may be shared
        # Only the backward of the op that made a tensor reads its grad. If that op reads only some
        # entries, grad_mask (R, C) is zero at the others, and they need not be computed.
        self.grad_mask = None

    def add_grad(self, d):
        self.grad = d if self.grad is None else [a + b for a, b in zip(self.grad, d)]


Weight = collections.namedtuple("Weight", "offset rows cols")  # a matrix inside the flat parameter list


def add_into(acc, offset, d):
    """acc[offset + i] += d[i]: gradients flowing into a slice of the flat gradient list."""
    end = offset + len(d)
    acc[offset:end] = [a + b for a, b in zip(acc[offset:end], d)]


class FastOps:
    """Each op computes its output and, if gradients are wanted, puts (its *_back method, the output,
    what that method needs) on the tape; backward() calls them in reverse order."""

    def __init__(self, model, grad=True):
        self.P = model.params
        self.G = [0.0] * len(self.P) if grad else None
        self.weights = {name: Weight(*spec) for name, spec in model.layout.items()}
        self.written = set()  # offsets of the matrices whose gradient has been written into G
        self.tape = []

    def record(self, backward, out, *needs):
        if self.G is not None:
            self.tape.append((backward, out, needs))
        return out

    def backward(self, loss):
        loss.grad = [1.0]
        for backward, out, needs in reversed(self.tape):
            if out.grad is not None:  # else nothing downstream used it
                backward(out, *needs)
        # the tape refers back to self: dropping it breaks that cycle, so the step's activations are
        # freed at once instead of waiting for the garbage collector (~7% faster)
        self.tape = []
        return self.G

    def matrix(self, w):
        return self.P[w.offset:w.offset + w.rows * w.cols]

    def weight_grad(self, w, dW):
        # the first gradient into a matrix is written, later ones (a batch of documents) are added
        if w.offset in self.written:
            add_into(self.G, w.offset, dW)
        else:
            self.G[w.offset:w.offset + len(dW)] = dW
            self.written.add(w.offset)

    def positions(self, tokens):
        return range(len(tokens))

    def embed(self, wte, wpe, docs):
        # x[t] = wte[token_t] + wpe[t] for every position t of every document, the documents' rows stacked
        C, P = wte.cols, self.P
        rows, self.segments = [], []  # segments: (first row, T) of each document, for attention
        for tokens in docs:
            positions = self.positions(tokens)
            if len(positions) and positions[-1] >= wpe.rows:
                raise ValueError("more positions than block_size")
            self.segments.append((len(rows), len(tokens)))
            rows += [(wte.offset + token * C, wpe.offset + pos * C) for token, pos in zip(tokens, positions)]
        data = []
        for a, b in rows:
            data += [x + y for x, y in zip(P[a:a + C], P[b:b + C])]
        return self.record(self.embed_back, Tensor(data, len(rows), C), rows)

    def embed_back(self, out, rows):
        C = out.cols
        for t, (a, b) in enumerate(rows):
            d = out.grad[t * C:(t + 1) * C]
            add_into(self.G, a, d)
            add_into(self.G, b, d)

    def add(self, a, b):
        return self.record(self.add_back, Tensor([x + y for x, y in zip(a.data, b.data)], a.rows, a.cols), a, b)

    def add_back(self, out, a, b):
        a.add_grad(out.grad)
        b.add_grad(out.grad)

    def rmsnorm(self, x):
        data, rstds = rmsnorm_forward(x.data, x.cols)
        return self.record(self.rmsnorm_back, Tensor(data, x.rows, x.cols), x, rstds)

    def rmsnorm_back(self, out, x, rstds):
        x.add_grad(rmsnorm_backward(out.grad, x.data, rstds, x.cols))

    def linear(self, x, w):
        W = self.matrix(w)
        return self.record(self.linear_back, Tensor(linear_forward(x.data, W, x.cols), x.rows, w.rows), x, w, W)

    def linear_back(self, out, x, w, W):
        dx, dW = linear_backward(out.grad, x.data, W, x.cols, w.rows, x.grad_mask)
        x.add_grad(dx)
        self.weight_grad(w, dW)

    def relu(self, x):
        out = Tensor([xi if xi > 0 else 0.0 for xi in x.data], x.rows, x.cols)
        out.grad_mask = out.data  # d/dx relu(x) = 0 where relu(x) = 0: the backward reads no dout there
        return self.record(self.relu_back, out, x)

    def relu_back(self, out, x):
        x.add_grad([d if xi > 0 else 0.0 for xi, d in zip(x.data, out.grad)])

    def attention(self, q, k, v, n_head):
        # causal within each document: its rows see only its own earlier rows
        C, out, atts = q.cols, [], []
        for start, T in self.segments:
            rows = slice(start * C, (start + T) * C)
            data, att = attention_forward(q.data[rows], k.data[rows], v.data[rows], C, n_head)
            out += data
            atts.append(att)
        return self.record(self.attention_back, Tensor(out, q.rows, C), q, k, v, n_head, self.segments, atts)

    def attention_back(self, out, q, k, v, n_head, segments, atts):
        C, grads = q.cols, []
        for (start, T), att in zip(segments, atts):
            rows = slice(start * C, (start + T) * C)
            grads.append(attention_backward(out.grad[rows], q.data[rows], k.data[rows], v.data[rows], att, C, n_head))
        for i, x in enumerate((q, k, v)):  # each document's (dq, dk, dv), its rows in order
            x.add_grad([g for d in grads for g in d[i]])

    def nll(self, logits, targets):
        flat = [target for doc in targets for target in doc]  # targets: one list per document
        losses, probs = nll_forward(logits.data, flat, logits.cols)
        return self.record(self.nll_back, Tensor(losses, len(losses), 1), logits, probs, flat)

    def nll_back(self, out, logits, probs, targets):
        logits.add_grad(nll_backward(out.grad, probs, targets))

    def mean(self, x):
        # (1/n) * sum, summed left to right from 0
        total = 0
        for loss in x.data:
            total += loss
        n = len(x.data)
        return self.record(self.mean_back, Tensor([(1 / n) * total], 1, 1), x, n)

    def mean_back(self, out, x, n):
        x.add_grad([out.grad[0] * (1 / n)] * n)


def loss_and_grad(model, batch):
    """(mean loss, d loss / d params as one flat list) for a batch of token lists."""
    ops = FastOps(model)
    loss = model.loss(ops, batch)
    return loss.data[0], ops.backward(loss)


def loss_only(model, batch):
    """The mean loss with no tape and no gradients: for held-out evaluation."""
    return model.loss(FastOps(model, grad=False), batch).data[0]


# --------------------------------------------------------------------------------------------------
# On CPython, code generated for each size (kernels.py) runs the six hot functions ~3x faster with
# the same sums; these plain loops stay the reference it is tested against, and what PyPy runs.

REFERENCE = {f.__name__: f for f in (matmul, linear_forward, linear_backward, rmsnorm_forward, rmsnorm_backward,
                                      attention_forward, attention_backward)}
KERNELS = platform.python_implementation() == "CPython" and os.environ.get("MICROGPT_KERNELS", "1") != "0"
if KERNELS:
    from .kernels import (  # noqa: E402,F811
        attention_backward,
        attention_forward,
        linear_backward,
        linear_forward,
        rmsnorm_backward,
        rmsnorm_forward,
    )
