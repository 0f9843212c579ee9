# %% [markdown]
# # Stage 03: attention
#
# The MLP of stages 01-02 saw exactly three characters, always the same three slots. Here every position
# looks back at *all* the positions before it and decides, from their content, how much of each to take:
# causal self-attention, one head of it. Because attention by itself does not know where a position is,
# each position also gets a learned position embedding. Two more pieces make it trainable: RMSNorm, which
# scales each vector to a root mean square of 1, and a residual connection, which adds the attention's
# output to its input instead of replacing it. Autograd is stage 02's (`Value` and `dot`), the training is
# still plain gradient descent, now one document per step.
#
# Run it: `python 03_attention.py` (or `--data FILE`, `--steps N`). It ends with the loss on held-out names.

# %%
import math
import random

import names  # the course's plumbing (names.py, beside this file): the data, the flags, the final loops

parser = names.parser("Course stage 03: one head of causal self-attention.")
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
# ## Autograd: stage 02's `Value` and `dot` (tanh is no longer needed)

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
# `wte` embeds a token and `wpe` a position (0 to 15); `attn_wq`, `attn_wk`, `attn_wv` make a position's
# query, key and value, `attn_wo` mixes the attention's output back into the stream, and `lm_head` turns
# the final vector into one logit per token. All start as small random numbers, drawn in this order.

# %%
N_EMBD = 16  # numbers per position: the width of the "residual stream"
LR = 0.5  # plain gradient descent, decayed linearly to 0


def matrix(n_out, n_in, std=0.08):
    return [[random.gauss(0, std) for _ in range(n_in)] for _ in range(n_out)]


w = {"wte": matrix(vocab_size, N_EMBD), "wpe": matrix(BLOCK, N_EMBD), "lm_head": matrix(vocab_size, N_EMBD),
     "attn_wq": matrix(N_EMBD, N_EMBD), "attn_wk": matrix(N_EMBD, N_EMBD), "attn_wv": matrix(N_EMBD, N_EMBD),
     "attn_wo": matrix(N_EMBD, N_EMBD)}
print(f"num params: {sum(len(mat) * len(mat[0]) for mat in w.values())}")

# %% [markdown]
# ## The model
#
# For the token at position t, with x_s the vector of position s:
#
#     x_t = rmsnorm(wte[token] + wpe[t])                  rmsnorm(x) = x / sqrt(mean(x^2) + 1e-5)
#     h   = rmsnorm(x_t)
#     q_t, k_t, v_t = attn_wq @ h, attn_wk @ h, attn_wv @ h
#     a_s = softmax_s(q_t . k_s / sqrt(16))  for s = 0..t  (causal: never a later position)
#     x_t = x_t + attn_wo @ (sum_s a_s v_s)                (the residual connection)
#     logits = lm_head @ x_t
#
# The keys and values of earlier positions do not change when a later token arrives, so `gpt()` takes one
# token at a time and keeps them in lists (a KV cache): position t's attention reads the t + 1 cached ones.

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
    x_residual = x
    x = rmsnorm(x)
    q, k, v = linear(x, w["attn_wq"]), linear(x, w["attn_wk"]), linear(x, w["attn_wv"])
    keys.append(k)
    values.append(v)
    attn_logits = [dot(q, k_s) / N_EMBD ** 0.5 for k_s in keys]
    attn_weights = softmax(attn_logits)
    x_attn = [dot(attn_weights, [v_s[j] for v_s in values]) for j in range(N_EMBD)]
    x = linear(x_attn, w["attn_wo"])
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
    keys, values = [], []
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
    keys, values = [], []

    def next_probs(token, pos):
        return [p.data for p in softmax([logit / temperature for logit in gpt(vw, token, pos, keys, values)])]
    return next_probs


names.print_samples(reader, chars, temperature=0.5)
print(f"held-out loss {names.held_out_loss(val_docs, frame, reader):.4f}")
