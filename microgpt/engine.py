"""The fast engine: the same operations on flat lists of floats, each with a hand-written backward.

Every operation comes as a pair, in the manner of llm.c:  *_forward(...) -> (out, cache)  computes its
output and keeps what its backward needs;  *_backward(dout, cache) -> input gradients  applies the chain
rule by hand. A Tape records the pairs as model.GPT.forward calls them and replays the backwards in
reverse order. No graph of scalar nodes is built, which is where the scalar engine spends its time.

The forwards do the reference's arithmetic in the reference's order (sums left to right from 0, x**-0.5,
e * total**-1), so logits and losses are the scalar engine's to the last bit. The backwards compute the
same derivatives in a different order, so gradients agree to rounding (about 1e-15 relative).

A tensor is a flat list in row-major order: x[t * C + c] is channel c at position t.
"""

import math


class Tensor:
    __slots__ = ("data", "rows", "cols", "grad")

    def __init__(self, data, rows, cols):
        self.data, self.rows, self.cols = data, rows, cols
        self.grad = None


class Weight:
    """A matrix inside the flat parameter list: rows x cols starting at offset."""
    __slots__ = ("offset", "rows", "cols")

    def __init__(self, offset, rows, cols):
        self.offset, self.rows, self.cols = offset, rows, cols


# --------------------------------------------------------------------------------------------------
# forward/backward pairs. P = flat parameters, G = flat gradients (same layout).

def matmul_forward(x, T, n_in, P, w):
    # out[t, o] = sum_i W[o, i] x[t, i]   (T, n_in) @ (n_out, n_in)^T -> (T, n_out)
    off, n_out = w.offset, w.rows
    out = []
    for t in range(T):
        xt = t * n_in
        for o in range(n_out):
            wo = off + o * n_in
            acc = 0
            for i in range(n_in):
                acc += P[wo + i] * x[xt + i]
            out.append(acc)
    return out


def matmul_backward(dout, x, T, n_in, P, G, w):
    # dx[t, i] = sum_o dout[t, o] W[o, i];   dW[o, i] += sum_t dout[t, o] x[t, i]
    off, n_out = w.offset, w.rows
    dx = [0.0] * (T * n_in)
    for t in range(T):
        xt = t * n_in
        for o in range(n_out):
            d = dout[t * n_out + o]
            if d == 0.0:
                continue
            wo = off + o * n_in
            for i in range(n_in):
                dx[xt + i] += d * P[wo + i]
                G[wo + i] += d * x[xt + i]
    return dx


def rmsnorm_forward(x, T, C):
    # y = x * rstd,  rstd = (mean(x^2) + eps)^-0.5
    out, rstds = [], []
    for t in range(T):
        row = x[t * C:(t + 1) * C]
        ms = 0
        for xi in row:
            ms += xi * xi
        ms = ms * C ** -1
        rstd = (ms + 1e-5) ** -0.5
        rstds.append(rstd)
        out.extend([xi * rstd for xi in row])
    return out, rstds


def rmsnorm_backward(dout, x, rstds, T, C):
    # dx_j = rstd dy_j - (rstd^3 / C) x_j sum_i dy_i x_i
    dx = []
    for t in range(T):
        row, drow, rstd = x[t * C:(t + 1) * C], dout[t * C:(t + 1) * C], rstds[t]
        dot = 0.0
        for xi, di in zip(row, drow):
            dot += xi * di
        k = rstd ** 3 * dot / C
        dx.extend([rstd * di - k * xi for xi, di in zip(row, drow)])
    return dx


def attention_forward(q, k, v, T, C, n_head, past=0):
    # per head h and position t: a = softmax_s<=t(q_t . k_s / sqrt(hs));  out_t = sum_s a_s v_s
    # q holds T positions that come after `past` positions already in k and v (a KV cache)
    hs = C // n_head
    scale = hs ** 0.5
    scale = scale ** -1
    out = [0.0] * (T * C)
    att = []  # att[t * n_head + h] = the weights over positions 0..t
    for t in range(T):
        for h in range(n_head):
            qo = t * C + h * hs
            logits = []
            for s in range(past + t + 1):
                ko = s * C + h * hs
                acc = 0
                for j in range(hs):
                    acc += q[qo + j] * k[ko + j]
                logits.append(acc * scale)
            m = max(logits)
            exps = [math.exp(l - m) for l in logits]
            total = 0
            for e in exps:
                total += e
            inv = total ** -1
            a = [e * inv for e in exps]
            att.append(a)
            for j in range(hs):
                acc = 0
                for s in range(past + t + 1):
                    acc += a[s] * v[s * C + h * hs + j]
                out[qo + j] = acc
    return out, att


def attention_backward(dout, q, k, v, att, T, C, n_head):
    hs = C // n_head
    scale = (hs ** 0.5) ** -1
    dq, dk, dv = [0.0] * (T * C), [0.0] * (T * C), [0.0] * (T * C)
    for t in range(T):
        for h in range(n_head):
            qo = t * C + h * hs
            a = att[t * n_head + h]
            # through out_t = sum_s a_s v_s
            da = []
            for s in range(t + 1):
                vo = s * C + h * hs
                acc = 0.0
                for j in range(hs):
                    acc += dout[qo + j] * v[vo + j]
                    dv[vo + j] += a[s] * dout[qo + j]
                da.append(acc)
            # through the softmax: dlogit_s = a_s (da_s - sum_r a_r da_r)
            mix = 0.0
            for s in range(t + 1):
                mix += a[s] * da[s]
            for s in range(t + 1):
                dl = a[s] * (da[s] - mix) * scale
                ko = s * C + h * hs
                for j in range(hs):
                    dq[qo + j] += dl * k[ko + j]
                    dk[ko + j] += dl * q[qo + j]
    return dq, dk, dv


def nll_forward(logits, targets, V):
    # -log softmax(logits)[target] per position; probs are kept for the backward
    losses, probs = [], []
    for t, target in enumerate(targets):
        row = logits[t * V:(t + 1) * V]
        m = max(row)
        exps = [math.exp(l - m) for l in row]
        total = 0
        for e in exps:
            total += e
        inv = total ** -1
        p = [e * inv for e in exps]
        probs.append(p)
        losses.append(-math.log(p[target]))
    return losses, probs


def nll_backward(dlosses, probs, targets):
    # d(-log p_target)/d logit_v = p_v - [v == target]
    dlogits = []
    for d, p, target in zip(dlosses, probs, targets):
        row = [pv * d for pv in p]
        row[target] -= d
        dlogits.extend(row)
    return dlogits


# --------------------------------------------------------------------------------------------------
# the op set of model.GPT.forward, recording each backward on a tape

class FastOps:
    def __init__(self, model, grad=True, kv_cache=False):
        self.P = model.params
        self.G = [0.0] * len(self.P) if grad else None
        self.weights = {name: Weight(*spec) for name, spec in model.layout.items()}
        self.tape = []
        self.kv = {} if kv_cache else None  # layer -> (keys, values, length) for incremental sampling
        self.pos = 0  # positions already in the kv cache

    def _record(self, fn):
        if self.G is not None:
            self.tape.append(fn)

    def _grad(self, t):
        if t.grad is None:
            t.grad = [0.0] * len(t.data)
        return t.grad

    def _acc(self, t, d):
        g = self._grad(t)
        for i, di in enumerate(d):
            g[i] += di

    def embed(self, wte, wpe, tokens):
        C, P, pos0 = wte.cols, self.P, self.pos
        if pos0 + len(tokens) > wpe.rows:
            raise ValueError("more positions than block_size")
        data = []
        for t, token in enumerate(tokens):
            a, b = wte.offset + token * C, wpe.offset + (pos0 + t) * C
            data.extend([P[a + c] + P[b + c] for c in range(C)])
        out = Tensor(data, len(tokens), C)
        if self.kv is not None:
            self.pos += len(tokens)

        def backward():
            G = self.G
            for t, token in enumerate(tokens):
                a, b = wte.offset + token * C, wpe.offset + (pos0 + t) * C
                for c in range(C):
                    d = out.grad[t * C + c]
                    G[a + c] += d
                    G[b + c] += d
        self._record((backward, out))
        return out

    def add(self, a, b):
        out = Tensor([x + y for x, y in zip(a.data, b.data)], a.rows, a.cols)

        def backward():
            self._acc(a, out.grad)
            self._acc(b, out.grad)
        self._record((backward, out))
        return out

    def rmsnorm(self, x):
        data, rstds = rmsnorm_forward(x.data, x.rows, x.cols)
        out = Tensor(data, x.rows, x.cols)

        def backward():
            self._acc(x, rmsnorm_backward(out.grad, x.data, rstds, x.rows, x.cols))
        self._record((backward, out))
        return out

    def linear(self, x, w):
        out = Tensor(matmul_forward(x.data, x.rows, x.cols, self.P, w), x.rows, w.rows)

        def backward():
            self._acc(x, matmul_backward(out.grad, x.data, x.rows, x.cols, self.P, self.G, w))
        self._record((backward, out))
        return out

    def relu(self, x):
        out = Tensor([xi if xi > 0 else 0.0 for xi in x.data], x.rows, x.cols)

        def backward():
            self._acc(x, [d if xi > 0 else 0.0 for xi, d in zip(x.data, out.grad)])
        self._record((backward, out))
        return out

    def attention(self, q, k, v, n_head, layer=0):
        T, C = q.rows, q.cols
        if self.kv is not None:
            # incremental decoding: attend over everything cached so far plus the new positions
            keys, values = self.kv.setdefault(layer, ([], []))
            past = len(keys) // C
            keys.extend(k.data)
            values.extend(v.data)
            data, _ = attention_forward(q.data, keys, values, T, C, n_head, past)
            return Tensor(data, T, C)
        data, att = attention_forward(q.data, k.data, v.data, T, C, n_head)
        out = Tensor(data, T, C)

        def backward():
            dq, dk, dv = attention_backward(out.grad, q.data, k.data, v.data, att, T, C, n_head)
            self._acc(q, dq)
            self._acc(k, dk)
            self._acc(v, dv)
        self._record((backward, out))
        return out

    def nll(self, logits, targets):
        losses, probs = nll_forward(logits.data, targets, logits.cols)
        out = Tensor(losses, len(losses), 1)

        def backward():
            self._acc(logits, nll_backward(out.grad, probs, targets))
        self._record((backward, out))
        return out

    def mean(self, nlls):
        n = sum(len(x.data) for x in nlls)
        total = 0
        for x in nlls:
            for loss in x.data:
                total += loss
        out = Tensor([(1 / n) * total], 1, 1)

        def backward():
            for x in nlls:
                self._acc(x, [out.grad[0] * (1 / n)] * len(x.data))
        self._record((backward, out))
        return out

    def backward(self, loss):
        loss.grad = [1.0]
        for fn, out in reversed(self.tape):
            if out.grad is not None:
                fn()
        return self.G


def loss_and_grad(model, batch):
    """(mean loss, d loss / d params as one flat list) for a batch of token lists."""
    ops = FastOps(model)
    loss = model.loss(ops, batch)
    return loss.data[0], ops.backward(loss)


def loss_only(model, batch):
    """The mean loss with no tape and no gradients: for held-out evaluation."""
    return model.loss(FastOps(model, grad=False), batch).data[0]


class Decoder:
    """Feeds tokens one at a time through the model with a KV cache; logits() gives plain floats."""

    def __init__(self, model):
        self.model = model
        self.ops = FastOps(model, grad=False, kv_cache=True)

    def logits(self, token):
        return self.model.forward(self.ops, [token]).data
