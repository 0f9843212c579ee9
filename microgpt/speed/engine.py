"""The fast engine: the model's operations on flat lists of floats, each with a hand-written backward.

FastOps records, as model.GPT.forward calls each op, the op's backward on a tape, and backward() calls
them in reverse order. No graph of scalar nodes is built, which is where the scalar engine spends its
time. The arithmetic of each op is a forward/backward pair from `math`, a module chosen explicitly:

- loops.py, the plain loops: the reference, what PyPy's JIT compiles, and what a reader follows;
- kernels.py, the same sums as code generated for each size: about 3x faster on CPython;
- fastmath.py, kernels.py with the long dot products in math.sumprod (Python 3.12+): faster again, but
  rounded differently, so only when a run asks for it (--fast-math; speed.engine_for).

default_math() takes the kernels on CPython and the loops elsewhere; MICROGPT_KERNELS=0 in the
environment is the switch that runs the plain loops on CPython too. Either gives the same numbers.

A tensor is a flat list in row-major order: x[t * C + c] is channel c at position t.
"""

import collections
import functools
import os
import platform

from ..ops import Ops
from . import loops


@functools.lru_cache(maxsize=None)
def default_math():
    """The module of forward/backward pairs FastOps uses unless told: kernels on CPython, else loops."""
    if platform.python_implementation() == "CPython" and os.environ.get("MICROGPT_KERNELS", "1") != "0":
        from . import kernels
        return kernels
    return loops


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


class FastOps(Ops):
    """Each op computes its output and, if gradients are wanted, puts (its *_back method, the output,
    what that method needs) on the tape; backward() calls them in reverse order."""

    def __init__(self, model, grad=True, math=None):
        self.math = math or default_math()  # loops, kernels or fastmath: the forward/backward pairs
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
        data, rstds = self.math.rmsnorm_forward(x.data, x.cols)
        return self.record(self.rmsnorm_back, Tensor(data, x.rows, x.cols), x, rstds)

    def rmsnorm_back(self, out, x, rstds):
        x.add_grad(self.math.rmsnorm_backward(out.grad, x.data, rstds, x.cols))

    def linear(self, x, w):
        W = self.matrix(w)
        out = Tensor(self.math.linear_forward(x.data, W, x.cols), x.rows, w.rows)
        return self.record(self.linear_back, out, x, w, W)

    def linear_back(self, out, x, w, W):
        dx, dW = self.math.linear_backward(out.grad, x.data, W, x.cols, w.rows, x.grad_mask)
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
            data, att = self.math.attention_forward(q.data[rows], k.data[rows], v.data[rows], C, n_head)
            out += data
            atts.append(att)
        return self.record(self.attention_back, Tensor(out, q.rows, C), q, k, v, n_head, self.segments, atts)

    def attention_back(self, out, q, k, v, n_head, segments, atts):
        C, grads = q.cols, []
        for (start, T), att in zip(segments, atts):
            rows = slice(start * C, (start + T) * C)
            grads.append(self.math.attention_backward(out.grad[rows], q.data[rows], k.data[rows], v.data[rows], att,
                                                      C, n_head))
        for i, x in enumerate((q, k, v)):  # each document's (dq, dk, dv), its rows in order
            x.add_grad([g for d in grads for g in d[i]])

    def nll(self, logits, targets):
        flat = [target for doc in targets for target in doc]  # targets: one list per document
        losses, probs = loops.nll_forward(logits.data, flat, logits.cols)
        return self.record(self.nll_back, Tensor(losses, len(losses), 1), logits, probs, flat)

    def nll_back(self, out, logits, probs, targets):
        logits.add_grad(loops.nll_backward(out.grad, probs, targets))

    def mean(self, x):
        # (1/n) * sum, summed left to right from 0
        total = 0
        for loss in x.data:
            total += loss
        n = len(x.data)
        return self.record(self.mean_back, Tensor([(1 / n) * total], 1, 1), x, n)

    def mean_back(self, out, x, n):
        x.add_grad([out.grad[0] * (1 / n)] * n)


def loss_and_grad(model, batch, math=None):
    """(mean loss, d loss / d params as one flat list) for a batch of token lists."""
    ops = FastOps(model, math=math)
    loss = model.loss(ops, batch)
    return loss.data[0], ops.backward(loss)


def loss_only(model, batch, math=None):
    """The mean loss with no tape and no gradients: for held-out evaluation."""
    return model.loss(FastOps(model, grad=False, math=math), batch).data[0]


# --------------------------------------------------------------------------------------------------
# decoding one token at a time: the op set with a KV cache

class CachedOps(FastOps):
    """The fast engine's ops, without gradients, keeping every layer's keys and values (a KV cache): a
    new token then costs the work of one position, not of the whole prefix again."""

    def __init__(self, model, math=None):
        super().__init__(model, grad=False, math=math)
        self.cache = []  # (keys, values) per layer, in the order the forward pass calls attention
        self.pos = 0  # positions already in the cache
        self.layer = 0

    def embed(self, wte, wpe, docs):
        self.layer = 0  # a new forward pass: its first attention is layer 0's
        return super().embed(wte, wpe, docs)

    def positions(self, tokens):
        self.pos += len(tokens)
        return range(self.pos - len(tokens), self.pos)

    def attention(self, q, k, v, n_head):
        if self.layer == len(self.cache):
            self.cache.append(([], []))
        keys, values = self.cache[self.layer]
        self.layer += 1
        past = len(keys) // q.cols
        keys += k.data
        values += v.data
        out, _ = self.math.attention_forward(q.data, keys, values, q.cols, n_head, past)
        return Tensor(out, q.rows, q.cols)


def cached_decoder(model):
    """feed(token) -> the logits (a list) of the token after it: the fast engine with a KV cache.

    feed.many(tokens) reads several tokens in one forward pass, the same numbers as feeding them one by
    one (each row's sums are the same), and returns the logits after the last: what a window that has
    slid costs (sample.continue_text), one pass over block_size positions instead of block_size passes."""
    ops = CachedOps(model)

    def feed(token):
        return model.forward(ops, [[token]]).data

    def many(tokens):
        return model.forward(ops, [list(tokens)]).data[-model.config.vocab_size:]
    feed.many = many
    return feed
