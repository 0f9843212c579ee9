# %% [markdown]
# # Stage 04: the transformer block
#
# Stage 03's attention had one head: one softmax per position, one way of choosing what to look at. Here
# the 16 channels are split among 4 heads, each attending with its own 4 channels (one may track the
# previous letter, another the start of the name). After attention comes the second half of a transformer
# block: an MLP applied to each position on its own (widen to 64, ReLU, narrow back to 16), with its own
# RMSNorm and residual connection. Blocks stack: `N_LAYER` of them, each with its own weights and its own
# KV cache. With `N_LAYER = 1` this is the model of `microgpt.py`; only the optimizer is still plain
# gradient descent.
#
# Run it: `python 04_transformer.py` (or `--data FILE`, `--steps N`). It ends with the loss on held-out names.

# %%
import math
import random

import names  # the course's plumbing (names.py, beside this file): the data, the flags, the final loops

parser = names.parser("Course stage 04: multi-head attention, the MLP, layers.")
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
# ## Autograd: stage 03's, and `relu` for the MLP block

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
# Stage 03's, with the attention matrices once per layer, and per layer the MLP's `mlp_fc1` (16 -> 64)
# and `mlp_fc2` (64 -> 16). All start as small random numbers, drawn in this order.

# %%
N_EMBD = 16  # numbers per position: the width of the "residual stream"
N_HEAD = 4  # attention heads, each on N_EMBD // N_HEAD channels of its own
N_LAYER = 1  # transformer blocks
HEAD_DIM = N_EMBD // N_HEAD
LR = 0.5  # plain gradient descent, decayed linearly to 0


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
# For the token at position t, x_t = rmsnorm(wte[token] + wpe[t]) as in stage 03; then in every layer:
#
#     h = rmsnorm(x_t);  q_t, k_t, v_t = attn_wq @ h, attn_wk @ h, attn_wv @ h
#     each head, on its own 4 channels c:  a_s = softmax_s(q_t[c] . k_s[c] / sqrt(4)),  out[c] = sum_s a_s v_s[c]
#     x_t = x_t + attn_wo @ out                            (the heads' outputs side by side, then mixed)
#     x_t = x_t + mlp_fc2 @ relu(mlp_fc1 @ rmsnorm(x_t))    (the MLP block)
#
# and logits = lm_head @ x_t after the last layer. Each layer has its own KV cache: `keys[layer]`.

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
# ## Training: plain gradient descent, one document per step

# %%
steps = args.steps
for step in range(steps):
    loss, grads = loss_and_grads(w, train_docs[step % len(train_docs)])
    lr = LR * (1 - step / steps)
    for name, mat in w.items():
        for o, g_o in enumerate(grads[name]):
            mat[o] = [p - lr * g for p, g in zip(mat[o], g_o)]
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
