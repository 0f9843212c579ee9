# %% [markdown]
# # Stage 05: Adam, and the complete model
#
# Stage 04's model and training, with one change: the update. Plain gradient descent moves every weight by
# lr times its gradient, so weights with small gradients barely move and large ones overshoot; a good lr
# had to be searched for (0.5 here, 1.0 diverges). Adam keeps, per weight, a running mean of the gradient
# (m, its direction) and of its square (v, its scale) and steps by m / sqrt(v): every weight moves at about
# the same pace, lr, whatever the size of its gradient. This is the whole of `microgpt.py` (its reading of the
# names being `names.py`'s): run on the names, this file prints exactly its lines (the same 1000 losses, the
# same 20 names), then the held-out loss.
#
# Run it: `python 05_adam.py` (or `--data FILE`, `--steps N`). It ends with the loss on held-out names.

# %%
import math
import random

import names  # the course's plumbing (names.py, beside this file): the data, the flags, the final loops

parser = names.parser("Course stage 05: Adam; the model of microgpt.py.")
parser.add_argument("--steps", type=int, default=1000, help="training steps, one document each")
args = names.parse(parser)

# %% [markdown]
# ## The data, the tokens, the held-out names (as in stage 00)
#
# Stage 00's `names.load`: the training and held-out names (the last 10% after a shuffle with seed 42), the
# characters `chars` with the token `BOS` after them, and `frame(doc)`: a name as the ids of [BOS] + its
# characters + [BOS].

# %%
train_docs, val_docs, chars, BOS, vocab_size, frame = names.load(args.data)  # prints num docs, vocab size
BLOCK = names.BLOCK  # a document counts for at most its first 16 predictions

# %% [markdown]
# ## Autograd: stage 04's

# %%
class Value:
    __slots__ = ("data", "grad", "_children", "_local_grads")

    def __init__(self, data, children=(), local_grads=()):
        self.data = data
        self.grad = 0  # d loss / d self, once backward() has run
        self._children = children
        self._local_grads = local_grads

    def __add__(self, other):  # a plain number in an expression is a constant: no node, no gradient
        if isinstance(other, Value):
            return Value(self.data + other.data, (self, other), (1, 1))
        return Value(self.data + other, (self,), (1,))

    def __mul__(self, other):
        if isinstance(other, Value):
            return Value(self.data * other.data, (self, other), (other.data, self.data))
        return Value(self.data * other, (self,), (other,))

    def __pow__(self, k):  # k a plain number
        return Value(self.data ** k, (self,), (k * self.data ** (k - 1),))

    def exp(self):
        e = math.exp(self.data)
        return Value(e, (self,), (e,))

    def log(self):
        return Value(math.log(self.data), (self,), (1 / self.data,))

    def relu(self):  # max(0, x): slope 1 where x > 0, 0 elsewhere
        return Value(max(0, self.data), (self,), (float(self.data > 0),))

    def __neg__(self):
        return self * -1

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-other)

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        return self * other ** -1

    def backward(self):
        # the nodes in depth-first post-order (each after its children), built with a stack rather than
        # recursion, which a long graph would take past Python's recursion limit
        topo, visited, stack = [], set(), [(self, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                topo.append(node)
            elif node not in visited:
                visited.add(node)
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(node._children) if child._children)
        self.grad = 1
        for node in reversed(topo):
            for child, local in zip(node._children, node._local_grads):
                child.grad += local * node.grad


def dot(a, b):
    # sum_i a_i b_i as ONE node, with local derivatives d/da_i = b_i and d/db_i = a_i
    data, children, local_grads = 0, [], []
    for x, y in zip(a, b):
        data += x.data * y.data
        children += (x, y)
        local_grads += (y.data, x.data)
    return Value(data, children, local_grads)


# %% [markdown]
# ## The parameters
#
# Stage 04's. All start as small random numbers, drawn in this order.

# %%
N_EMBD = 16  # numbers per position: the width of the "residual stream"
N_HEAD = 4  # attention heads, each on N_EMBD // N_HEAD channels of its own
N_LAYER = 1  # transformer blocks
HEAD_DIM = N_EMBD // N_HEAD
LR, BETA1, BETA2, EPS = 0.01, 0.85, 0.99, 1e-8  # Adam's, the lr decayed linearly to 0


def matrix(n_out, n_in, std=0.08):
    return [[random.gauss(0, std) for _ in range(n_in)] for _ in range(n_out)]


w = {"wte": matrix(vocab_size, N_EMBD), "wpe": matrix(BLOCK, N_EMBD), "lm_head": matrix(vocab_size, N_EMBD)}
for i in range(N_LAYER):
    w.update({f"layer{i}.attn_wq": matrix(N_EMBD, N_EMBD), f"layer{i}.attn_wk": matrix(N_EMBD, N_EMBD),
              f"layer{i}.attn_wv": matrix(N_EMBD, N_EMBD), f"layer{i}.attn_wo": matrix(N_EMBD, N_EMBD),
              f"layer{i}.mlp_fc1": matrix(4 * N_EMBD, N_EMBD), f"layer{i}.mlp_fc2": matrix(N_EMBD, 4 * N_EMBD)})
print(f"num params: {sum(len(mat) * len(mat[0]) for mat in w.values())}")

# %% [markdown]
# ## The model
#
# Stage 04's, unchanged.

# %%
def linear(x, w):
    return [dot(w_o, x) for w_o in w]  # (n_in,) -> (n_out,)


def softmax(logits):
    max_val = max(logit.data for logit in logits)  # a constant: subtracting it changes nothing but avoids overflow
    exps = [(logit - max_val).exp() for logit in logits]
    total = sum(exps)
    return [e / total for e in exps]


def rmsnorm(x):
    ms = dot(x, x) / len(x)
    scale = (ms + 1e-5) ** -0.5
    return [xi * scale for xi in x]


def gpt(w, token_id, pos_id, keys, values):
    """The logits of the token after `token_id` at position `pos_id`; keys/values: the cache so far."""
    x = [t + p for t, p in zip(w["wte"][token_id], w["wpe"][pos_id])]
    x = rmsnorm(x)
    for i in range(N_LAYER):
        # 1) multi-head attention
        x_residual = x
        x = rmsnorm(x)
        q = linear(x, w[f"layer{i}.attn_wq"])
        k = linear(x, w[f"layer{i}.attn_wk"])
        v = linear(x, w[f"layer{i}.attn_wv"])
        keys[i].append(k)
        values[i].append(v)
        x_attn = []
        for hs in range(0, N_EMBD, HEAD_DIM):  # each head: its own slice of the channels
            q_h = q[hs:hs + HEAD_DIM]
            k_h = [k_s[hs:hs + HEAD_DIM] for k_s in keys[i]]
            v_h = [v_s[hs:hs + HEAD_DIM] for v_s in values[i]]
            attn_logits = [dot(q_h, k_s) / HEAD_DIM ** 0.5 for k_s in k_h]
            attn_weights = softmax(attn_logits)
            x_attn.extend(dot(attn_weights, [v_s[j] for v_s in v_h]) for j in range(HEAD_DIM))
        x = linear(x_attn, w[f"layer{i}.attn_wo"])
        x = [a + b for a, b in zip(x, x_residual)]
        # 2) the MLP, on this position alone
        x_residual = x
        x = rmsnorm(x)
        x = [xi.relu() for xi in linear(x, w[f"layer{i}.mlp_fc1"])]
        x = linear(x, w[f"layer{i}.mlp_fc2"])
        x = [a + b for a, b in zip(x, x_residual)]
    return linear(x, w["lm_head"])


# %% [markdown]
# ## Loss and gradient of one document
#
# The weights become Values for the step; the document is read one token at a time, each position's
# loss is -log p(the next token), and the document's loss is their mean. backward() does the rest.

# %%
def as_values(w):
    return {name: [[Value(p) for p in row] for row in mat] for name, mat in w.items()}


def loss_and_grads(w, doc):
    vw = as_values(w)
    tokens = frame(doc)
    n = len(tokens) - 1
    keys, values = [[] for _ in range(N_LAYER)], [[] for _ in range(N_LAYER)]
    losses = [-softmax(gpt(vw, tokens[t], t, keys, values))[tokens[t + 1]].log() for t in range(n)]
    loss = (1 / n) * sum(losses)
    loss.backward()
    return loss.data, {name: [[p.grad for p in row] for row in mat] for name, mat in vw.items()}


# %% [markdown]
# ## Training: Adam, one document per step
#
# For each weight p with gradient g, at step t = 1, 2, ...:
#
#     m = beta1 * m + (1 - beta1) * g          v = beta2 * v + (1 - beta2) * g^2
#     m_hat = m / (1 - beta1^t)                v_hat = v / (1 - beta2^t)
#     p = p - lr * m_hat / (sqrt(v_hat) + eps)
#
# m and v start at 0, so early on they are too small by a factor (1 - beta^t): the hats undo that. At the
# first step m_hat = g and v_hat = g^2, so every weight moves by lr (times the sign of its gradient).

# %%
def adam_step(p, g, m, v, t, lr):
    m = BETA1 * m + (1 - BETA1) * g
    v = BETA2 * v + (1 - BETA2) * g ** 2
    m_hat = m / (1 - BETA1 ** t)
    v_hat = v / (1 - BETA2 ** t)
    return p - lr * m_hat / (v_hat ** 0.5 + EPS), m, v


m = {name: [[0.0] * len(row) for row in mat] for name, mat in w.items()}  # the running mean of the gradient
v = {name: [[0.0] * len(row) for row in mat] for name, mat in w.items()}  # and of its square
steps = args.steps
for step in range(steps):
    loss, grads = loss_and_grads(w, train_docs[step % len(train_docs)])
    lr = LR * (1 - step / steps)
    for name, mat in w.items():
        for o, g_o in enumerate(grads[name]):
            for i, g in enumerate(g_o):
                mat[o][i], m[name][o][i], v[name][o][i] = adam_step(mat[o][i], g, m[name][o][i], v[name][o][i],
                                                                    step + 1, lr)
    print(f"step {step + 1:4d} / {steps:4d} | loss {loss:.4f}")

# %% [markdown]
# ## The held-out loss and samples
#
# No gradient is needed now: the forward pass alone, position by position, each name with its own KV cache.
# `names.py` runs stage 00's two loops, the loss over the held-out names and the sampling, with the model
# given as a `reader`: it starts a name and returns `next_probs`, which takes the name's tokens one at a time
# and gives the probabilities of the next token. Sampling divides the logits by a temperature of 0.5.

# %%
vw = as_values(w)  # gpt() computes on Values


def reader(temperature):
    keys, values = [[] for _ in range(N_LAYER)], [[] for _ in range(N_LAYER)]

    def next_probs(token, pos):
        return [p.data for p in softmax([logit / temperature for logit in gpt(vw, token, pos, keys, values)])]
    return next_probs


names.print_samples(reader, chars, temperature=0.5)
print(f"held-out loss {names.held_out_loss(val_docs, frame, reader):.4f}")
