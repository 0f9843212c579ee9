# %% [markdown]
# # Stage 01: a neural network, and its gradient worked out by hand
#
# Stage 00 looked one character back and kept a table of counts. Here a small neural network looks three
# characters back (makemore's MLP, after Bengio et al. 2003): each character becomes a vector of numbers
# (an embedding), the three vectors go through a layer of tanh units, and a last layer gives one score
# (logit) per possible next character. Nothing is counted: the weights are learned by gradient descent,
# and the gradient is written out by hand, one line of calculus per line of the forward pass. Before
# training, that gradient is checked against central finite differences.
#
# Run it: `python 01_mlp.py` (or `--data FILE`, `--steps N`). It ends with the loss on held-out names.

# %%
import math
import operator
import random
import sys

import names  # the course's plumbing (names.py, beside this file): the data, the flags, the final loops

parser = names.parser("Course stage 01: an MLP, its gradient by hand.")
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
# No biases, as in the GPT of the later stages. `tanh`, `dot` and `linear` are named here so that stage 02
# can run this very function on its autograd numbers.

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
tanh = math.tanh


def dot(a, b):
    return sum(map(operator.mul, a, b))  # a[0] * b[0] + a[1] * b[1] + ...


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
# ## The gradient, by hand
#
# Backward goes through the forward pass in reverse, each line the chain rule for one line of forward:
#
# - loss = -log p_target with p = softmax(logits): `d loss / d logit_i = p_i - [i == target]`
#   (the probability the model gave, minus 1 for the right answer);
# - out = w @ x: `d out_o / d w[o][i] = x_i` and `d out_o / d x_i = w[o][i]`, so
#   `dw[o][i] = dout_o * x_i` and `dx_i = sum_o w[o][i] * dout_o` (`linear_backward`);
# - h = tanh(a): `d h / d a = 1 - tanh(a)^2 = 1 - h^2`;
# - x is the three embeddings side by side, so each embedding row gets its slice of dx back.
#
# The loss of a batch is the mean over its examples, so each example's gradient is divided by their number;
# a weight used by several examples adds up the gradient from each.

# %%
def linear_backward(x, w, dout, dw):
    """For out = linear(x, w), given d loss / d out: add d loss / d w into dw and return d loss / d x."""
    dx = [0.0] * len(x)
    for o, (w_o, d) in enumerate(zip(w, dout)):
        dw[o] = [g + d * xi for g, xi in zip(dw[o], x)]
        dx = [g + d * wi for g, wi in zip(dx, w_o)]
    return dx


def loss_and_grads(w, batch):
    """The mean loss over the (context, target) examples of `batch`, and its gradient for every weight."""
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


# %% [markdown]
# ## Check the gradient before trusting it
#
# A derivative is a slope: `(loss(w + h) - loss(w - h)) / 2h` approximates d loss / d w with an error
# of order h^2. For a few weights of every matrix, on the first training batch, the hand-written gradient
# must agree with it. A mistake in backward shows up here as a large relative error, and training stops.

# %%
def check_gradients(w, batch, per_matrix=8, h=1e-5, tolerance=1e-5):
    _, grads = loss_and_grads(w, batch)
    pick = random.Random(1)  # its own random numbers: the model's stream stays as it was
    used = sorted({token for context, _ in batch for token in context})  # other embedding rows get no gradient
    print(f"gradient check: the hand-written gradient against central differences (h={h}), "
          f"{per_matrix} weights of each matrix")
    ok = True
    for name, mat in w.items():
        worst = 0.0
        for _ in range(per_matrix):
            o = pick.choice(used) if name == "wte" else pick.randrange(len(mat))
            i = pick.randrange(len(mat[o]))
            saved = mat[o][i]
            mat[o][i] = saved + h
            plus = loss_and_grads(w, batch)[0]
            mat[o][i] = saved - h
            minus = loss_and_grads(w, batch)[0]
            mat[o][i] = saved
            numeric, analytic = (plus - minus) / (2 * h), grads[name][o][i]
            worst = max(worst, abs(numeric - analytic) / max(abs(numeric) + abs(analytic), 1e-8))
        print(f"  {name:8s} largest relative error {worst:.1e}")
        ok = ok and worst < tolerance
    if not ok:
        sys.exit(f"gradient check FAILED (an error above {tolerance}): fix the backward pass before training")
    print(f"gradient check ok: every relative error below {tolerance}")


def batch_at(step):
    """The examples of the documents of training step `step`: the next BATCH documents, in order."""
    return [ex for b in range(BATCH) for ex in examples(train_docs[(step * BATCH + b) % len(train_docs)])]


check_gradients(w, batch_at(0))

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
