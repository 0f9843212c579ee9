# %% [markdown]
# # Stage 02: the same network, its gradient found by autograd
#
# Stage 01 worked out the gradient by hand: five lines of calculus for a three-line forward pass, and a
# finite-difference check to trust them. That does not scale to a transformer. Here every number of the
# forward pass is a `Value` that remembers which Values it was computed from and the local derivative
# with respect to each; `loss.backward()` then applies the chain rule through the whole graph. The model,
# the data, the training and the random stream are stage 01's, so the numbers are too: autograd's
# gradient is compared with stage 01's hand-written one (kept here only for that) and printed.
#
# Run it: `python 02_autograd.py` (or `--data FILE`, `--steps N`). With the same `--steps` it prints what
# `01_mlp.py` prints, apart from that check.

# %%
import math
import operator
import random
import sys

import names  # the course's plumbing (names.py, beside this file): the data, the flags, the final loops

parser = names.parser("Course stage 02: the MLP on autograd.")
parser.add_argument("--steps", type=int, default=1000, help="training steps, one batch of documents each")
args = names.parse(parser)

# %% [markdown]
# ## The data, the tokens, the held-out names (as in stage 00)
#
# Stage 00's `names.load`: the training and held-out names (the last 10% after a shuffle with seed 42), the
# characters `chars` with the token `BOS` after them, and `frame(doc)`: a name as the ids of [BOS] + its
# characters + [BOS].

# %%
train_docs, val_docs, chars, BOS, vocab_size, frame = names.load(args.data)  # prints num docs, vocab size

# %% [markdown]
# ## The examples: three characters in, the next one out
#
# Every prediction of a document becomes one example: the three tokens before it (BOS where the name has
# not started yet) and the token to predict. "emma" gives `... BOS -> e`, `. . e -> m`, `. e m -> m`,
# `e m m -> a`, `m m a -> BOS`.

# %%
CONTEXT = 3  # tokens the model sees


def examples(doc):
    tokens = frame(doc)
    padded = [BOS] * (CONTEXT - 1) + tokens
    return [(padded[t:t + CONTEXT], tokens[t + 1]) for t in range(len(tokens) - 1)]


# %% [markdown]
# ## The model
#
# With `E` numbers per embedding and `H` hidden units, for the context tokens c1 c2 c3:
#
#     x      = wte[c1] ++ wte[c2] ++ wte[c3]          (3E,)   the embeddings side by side
#     h      = tanh(fc @ x)                           (H,)
#     logits = lm_head @ h                            (V,)
#     loss   = -log softmax(logits)[target]
#
# A matrix is a list of rows: `w[o]` holds the weights that feed output `o`, so `(w @ x)[o] = sum_i w[o][i] x[i]`.
# No biases, as in the GPT of the later stages. This is stage 01's model, unchanged.

# %%
N_EMBD = 10  # numbers per character
N_HIDDEN = 64  # tanh units
BATCH = 4  # documents per training step
LR = 0.5  # the learning rate of plain gradient descent, decayed linearly to 0


def matrix(n_out, n_in, std):
    return [[random.gauss(0, std) for _ in range(n_in)] for _ in range(n_out)]


w = {"wte": matrix(vocab_size, N_EMBD, 1.0),
     "fc": matrix(N_HIDDEN, CONTEXT * N_EMBD, (CONTEXT * N_EMBD) ** -0.5),  # keeps fc @ x about unit size
     "lm_head": matrix(vocab_size, N_HIDDEN, 0.01)}  # small: every token starts about equally likely
print(f"num params: {sum(len(mat) * len(mat[0]) for mat in w.values())}")


# %% [markdown]
# ## Autograd: a number that remembers how it was made
#
# A `Value` holds a number (`data`), the Values it was computed from (its children) and the local
# derivative of itself with respect to each child. For z = x * y those are y and x; for z = x + y, 1 and 1;
# for z = tanh(x), 1 - z^2; for z = exp(x), z; for z = log(x), 1/x. `backward()` visits the graph from the
# loss down, in an order where every Value comes after all the Values computed from it, and applies the
# chain rule: `child.grad += local_derivative * node.grad`. A Value used twice gets both contributions:
# that is the sum over paths of the chain rule, the "+=" that stage 01 wrote by hand.

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

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, (self,), (1 - t * t,))

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


def tanh(x):  # the model calls tanh and dot on Values to train, and on plain floats to evaluate and sample
    return x.tanh() if isinstance(x, Value) else math.tanh(x)


def dot(a, b):
    if not isinstance(a[0], Value):
        return sum(map(operator.mul, a, b))  # a[0] * b[0] + a[1] * b[1] + ...
    # On Values: the same sum as ONE node whose children are every a_i and b_i, with local derivatives
    # d/da_i = b_i and d/db_i = a_i, instead of a node per product and per partial sum. Same numbers,
    # gradients included, several times faster.
    data, children, local_grads = 0, [], []
    for x, y in zip(a, b):
        data += x.data * y.data
        children += (x, y)
        local_grads += (y.data, x.data)
    return Value(data, children, local_grads)


def linear(x, w):
    return [dot(w_o, x) for w_o in w]  # (n_in,) -> (n_out,)


def softmax(logits):
    m = max(logits)  # subtracting the max changes nothing, but keeps exp() from overflowing
    exps = [math.exp(logit - m) for logit in logits]
    total = sum(exps)
    return [e / total for e in exps]


def forward(w, context):
    x = [xi for token in context for xi in w["wte"][token]]
    h = [tanh(a) for a in linear(x, w["fc"])]
    logits = linear(h, w["lm_head"])
    return x, h, logits


# %% [markdown]
# ## The gradient, by autograd
#
# Stage 01's `loss_and_grads`, with its backward pass replaced by `loss.backward()`: the weights become
# Values for the step, the forward pass builds the graph, and each weight's `.grad` is its gradient.
# The loss, -log softmax(logits)[target], is written as `log(sum_j exp(l_j - m)) - (l_target - m)` with m
# the largest logit: the same number, made of operations Value has.

# %%
def cross_entropy(logits, target):
    m = max(logit.data for logit in logits)
    return sum((logit - m).exp() for logit in logits).log() - (logits[target] - m)


def loss_and_grads(w, batch):
    """The mean loss over the (context, target) examples of `batch`, and its gradient for every weight."""
    vw = {name: [[Value(p) for p in row] for row in mat] for name, mat in w.items()}
    loss = sum(cross_entropy(forward(vw, context)[2], target) for context, target in batch) / len(batch)
    loss.backward()
    return loss.data, {name: [[p.grad for p in row] for row in mat] for name, mat in vw.items()}


# %% [markdown]
# ## Check: autograd finds stage 01's gradient
#
# Stage 01's backward pass, copied here unchanged, was checked against finite differences. On the first
# training batch, autograd's gradient must be the same numbers, up to the rounding of a different order of
# additions (far below 1e-12).

# %%
def linear_backward(x, w, dout, dw):
    """For out = linear(x, w), given d loss / d out: add d loss / d w into dw and return d loss / d x."""
    dx = [0.0] * len(x)
    for o, (w_o, d) in enumerate(zip(w, dout)):
        dw[o] = [g + d * xi for g, xi in zip(dw[o], x)]
        dx = [g + d * wi for g, wi in zip(dx, w_o)]
    return dx


def loss_and_grads_by_hand(w, batch):
    """Stage 01's loss_and_grads."""
    grads = {name: [[0.0] * len(mat[0]) for _ in mat] for name, mat in w.items()}
    loss = 0.0
    for context, target in batch:
        x, h, logits = forward(w, context)
        probs = softmax(logits)
        loss += -math.log(probs[target]) / len(batch)
        dlogits = [(p - (i == target)) / len(batch) for i, p in enumerate(probs)]
        dh = linear_backward(h, w["lm_head"], dlogits, grads["lm_head"])
        da = [d * (1 - hi * hi) for d, hi in zip(dh, h)]
        dx = linear_backward(x, w["fc"], da, grads["fc"])
        for c, token in enumerate(context):
            grads["wte"][token] = [g + d for g, d in zip(grads["wte"][token], dx[c * N_EMBD:(c + 1) * N_EMBD])]
    return loss, grads


def check_against_stage_01(w, batch, tolerance=1e-12):
    loss, grads = loss_and_grads(w, batch)
    hand_loss, hand_grads = loss_and_grads_by_hand(w, batch)
    diff = max(abs(a - b) for name in w for row, hand_row in zip(grads[name], hand_grads[name])
               for a, b in zip(row, hand_row))
    n = sum(len(mat) * len(mat[0]) for mat in w.values())
    print(f"autograd against stage 01's hand-written gradient: loss {loss:.15f} and {hand_loss:.15f}, "
          f"largest difference over all {n} gradients {diff:.1e}")
    if not diff <= tolerance:
        sys.exit(f"autograd check FAILED: a difference above {tolerance}")
    print(f"autograd check ok: the same gradient to within {tolerance}")


def batch_at(step):
    """The examples of the documents of training step `step`: the next BATCH documents, in order."""
    return [ex for b in range(BATCH) for ex in examples(train_docs[(step * BATCH + b) % len(train_docs)])]


check_against_stage_01(w, batch_at(0))

# %% [markdown]
# ## Training: plain gradient descent
#
# Each step: the loss and its gradient on the next batch, then every weight moves a little against its
# gradient, `w -= lr * dw`, with the learning rate falling linearly to 0 over the run.

# %%
steps = args.steps
print_every = max(1, steps // 20)
recent = []
for step in range(steps):
    loss, grads = loss_and_grads(w, batch_at(step))
    lr = LR * (1 - step / steps)
    for name, mat in w.items():
        for o, g_o in enumerate(grads[name]):
            mat[o] = [p - lr * g for p, g in zip(mat[o], g_o)]
    recent.append(loss)
    if (step + 1) % print_every == 0 or step + 1 == steps:
        print(f"step {step + 1:5d} / {steps} | loss {sum(recent) / len(recent):.4f} (mean of the last {len(recent)})")
        recent = []

# %% [markdown]
# ## The held-out loss and samples
#
# The same loss as stage 00's, on the same held-out predictions, and the same sampling: `names.py` runs stage
# 00's two loops for any model given as a `reader`. `reader(temperature)` starts a name and returns
# `next_probs(token, pos)`, which takes the name's tokens one at a time and gives the probabilities of the next
# token, here from the last CONTEXT of them. To sample, the logits are divided by a temperature (0.5: sharper
# than the model's own distribution, for likelier names), then softmaxed; the loss reads the model at 1.

# %%
def reader(temperature):
    tokens = [BOS] * (CONTEXT - 1)  # the padding before a name, as in examples()

    def next_probs(token, pos):
        tokens.append(token)
        return softmax([logit / temperature for logit in forward(w, tokens[-CONTEXT:])[2]])
    return next_probs


names.print_samples(reader, chars, temperature=0.5)
print(f"held-out loss {names.held_out_loss(val_docs, frame, reader):.4f}")
