"""The scalar engine: the model's operations composed from autograd Values, one number at a time.

This is the living definition of the arithmetic. Every sum runs left to right from 0, every division is
a multiplication by a power -1, exactly as Karpathy's microgpt writes them, so for the same weights its
losses and gradients are that program's to the bit, and a whole run prints that program's losses and
names. The fast engine (engine.py) must agree with this one; when they disagree, the fast one is wrong.

A tensor here is a list of rows, each a list of Values: x[t][c] is channel c at position t.
"""

from .autograd import Value
from .ops import Ops


def softmax(logits):
    # subtracting the max changes nothing mathematically and keeps exp() from overflowing
    max_val = max(val.data for val in logits)
    exps = [(val - max_val).exp() for val in logits]
    total = sum(exps)
    return [e / total for e in exps]


def matrices(leaves, layout):
    """name -> the matrix as a list of rows of leaves, from the model's flat layout."""
    return {name: [leaves[offset + r * cols: offset + (r + 1) * cols] for r in range(rows)]
            for name, (offset, rows, cols) in layout.items()}


class ScalarOps(Ops):
    """The op set of model.GPT.forward, built from Values so that loss.backward() finds every gradient."""

    # dot(a, b) = sum(ai * bi for ai, bi in zip(a, b)): Value.dot makes it one node, same numbers
    dot = staticmethod(Value.dot)

    def __init__(self, model):
        self.leaves = [Value(p) for p in model.params]
        self.weights = matrices(self.leaves, model.layout)

    def embed(self, wte, wpe, docs):
        self.lengths = [len(tokens) for tokens in docs]  # where each document's rows are, for attention
        return [[t + p for t, p in zip(wte[token], wpe[pos])] for tokens in docs for pos, token in enumerate(tokens)]

    def add(self, a, b):
        return [[ai + bi for ai, bi in zip(ra, rb)] for ra, rb in zip(a, b)]

    def rmsnorm(self, x):
        # x / sqrt(mean(x^2) + eps), per position
        out = []
        for row in x:
            ms = self.dot(row, row) / len(row)
            scale = (ms + 1e-5) ** -0.5
            out.append([xi * scale for xi in row])
        return out

    def linear(self, x, w):
        # y_o = sum_i w[o][i] x_i, per position
        return [[self.dot(wo, row) for wo in w] for row in x]

    def relu(self, x):
        return [[xi.relu() for xi in row] for row in x]

    def attention(self, q, k, v, n_head):
        # causal: position t of a document attends to its positions 0..t; each head to its own channels
        head_dim = len(q[0]) // n_head
        out, start = [], 0
        for T in self.lengths:
            for t in range(T):
                row = []
                for h in range(0, n_head * head_dim, head_dim):
                    q_h = q[start + t][h:h + head_dim]
                    k_h = [ks[h:h + head_dim] for ks in k[start:start + t + 1]]
                    v_h = [vs[h:h + head_dim] for vs in v[start:start + t + 1]]
                    attn_logits = [self.dot(q_h, k_s) / head_dim ** 0.5 for k_s in k_h]  # q . k / sqrt(hs)
                    attn_weights = softmax(attn_logits)
                    # out_j = sum_s a_s v_s[j]
                    row.extend(self.dot(attn_weights, [v_s[j] for v_s in v_h]) for j in range(head_dim))
                out.append(row)
            start += T
        return out

    def nll(self, logits, targets):
        # -log p(target) at each position; targets: one list per document
        flat = [target for doc in targets for target in doc]
        return [-softmax(row)[target].log() for row, target in zip(logits, flat)]

    def mean(self, losses):
        return (1 / len(losses)) * sum(losses)


def loss_and_grad(model, batch):
    """(mean loss, d loss / d params as one flat list) for a batch of token lists."""
    ops = ScalarOps(model)
    loss = model.loss(ops, batch)
    loss.backward()
    return loss.data, [float(p.grad) for p in ops.leaves]


def loss_only(model, batch):
    """The mean loss alone, for held-out evaluation (the graph is built, then dropped)."""
    return model.loss(ScalarOps(model), batch).data


def decoder(model):
    """feed(token) -> the logits (floats) of the token after every token fed so far, for sampling.

    Each call runs the forward pass over the whole prefix again: plain and slow. The fast engine keeps
    each layer's keys and values instead (a KV cache, speed/engine.py), for the very same numbers."""
    ops, prefix = ScalarOps(model), []

    def feed(token):
        prefix.append(token)
        return [logit.data for logit in model.forward(ops, [prefix])[-1]]
    return feed
