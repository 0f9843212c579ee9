"""microgpt.py: a GPT that learns to write names, trained and sampled in one file of plain Python.

Run `python microgpt.py` (Python 3.7+, standard library only). It trains on input.txt in the current folder, one
document per line; without one it first downloads there the 32,033 names of karpathy/makemore (or what
$MICROGPT_NAMES_URL points at) and checks their SHA-256. It trains a one-layer GPT for 1000 steps of one name each,
printing the loss, then writes 20 new names: on the names list, line for line what Karpathy's microgpt (2026) and
`python -m microgpt` print. Every number is a float with its own node in the graph: half a minute or so of work.

Left out: batches, a held-out loss and checkpoints (the microgpt package has them), tensors, subword tokens, and
GPT-2's LayerNorm, GeLU, biases, dropout and tied embeddings (RMSNorm, ReLU and no biases, as Karpathy's has it).
"""

import gc
import hashlib
import http.client
import math
import os
import random
import signal
import sys
import urllib.error
import urllib.request

NAMES_URL = "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"
NAMES_SHA256 = "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"


def fail(message):  # one line on stderr, exit status 1
    sys.exit("microgpt.py: " + "".join(c if c.isprintable() else "?" for c in message))


def interrupted(signum, frame):
    print("microgpt.py: interrupted; nothing was saved", file=sys.stderr)
    sys.exit(130)  # 128 + SIGINT, what a shell reports for a Ctrl-C


def download_names(path):
    """Put the names list at `path`, whole and verified, or stop with one line that says why."""
    url = os.environ.get("MICROGPT_NAMES_URL") or NAMES_URL
    advice = "; put the names file at %s and run again" % os.path.abspath(path)
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            body = response.read()
    except (OSError, ValueError, http.client.HTTPException) as e:
        why = e if isinstance(e, urllib.error.HTTPError) else getattr(e, "reason", e)
        fail("cannot download the names from %s: %s%s" % (url, why, advice))
    digest = hashlib.sha256(body).hexdigest()
    if digest != NAMES_SHA256:
        fail("the download from %s is not the names list: %d bytes with SHA-256 %s, expected %s%s"
             % (url, len(body), digest, NAMES_SHA256, advice))
    part = "%s.%d.part" % (path, os.getpid())
    try:
        with open(part, "wb") as f:
            f.write(body)
        os.replace(part, path)  # a rename is atomic: input.txt appears whole or not at all
    except OSError as e:
        fail("cannot write %s: %s%s" % (path, e.strerror or e, advice))
    finally:  # whatever stopped it, even a Ctrl-C: no half-written file stays behind
        if os.path.exists(part):
            os.remove(part)


signal.signal(signal.SIGINT, interrupted)
if hasattr(signal, "SIGPIPE"):  # `python microgpt.py | head`: end quietly once the reader has gone, as Unix tools do
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)

# --- the data and the tokenizer
# A document is one line of input.txt; each distinct character is a token, plus BOS, which marks where a document
# begins and ends: "emma" trains as [BOS, e, m, m, a, BOS], after BOS predict e, ..., after emma predict BOS (the end).
if not os.path.exists("input.txt"):
    download_names("input.txt")
try:
    with open("input.txt", encoding="utf-8-sig") as f:
        docs = [line.strip() for line in f if line.strip()]
except (OSError, UnicodeDecodeError) as e:
    fail("cannot read %s: %s" % (os.path.abspath("input.txt"), e))
if not docs:
    fail("%s has no documents: it is empty or blank" % os.path.abspath("input.txt"))
random.seed(42)  # one random stream: the shuffle, then the initial weights, then the samples
random.shuffle(docs)
uchars = sorted(set("".join(docs)))  # the vocabulary: token i is the i-th distinct character, sorted
BOS, vocab_size = len(uchars), len(uchars) + 1  # BOS takes the one id after the characters
print("num docs: %d\nvocab size: %d" % (len(docs), vocab_size))


# --- autograd
# A Value is one number of the computation that remembers the Values it was made from (its children) and
# the local derivative of itself with respect to each of them. backward() then applies the chain rule from
# the output to the leaves: d out/d child += (d node/d child) * (d out/d node), summed over every path.
class Value:
    __slots__ = ("data", "grad", "_children", "_local_grads")  # no dict per Value: thousands are made per step

    def __init__(self, data, children=(), local_grads=()):
        self.data = data
        self.grad = 0  # d out/d self, filled in by backward()
        self._children = children
        self._local_grads = local_grads

    # A plain number in an expression (2 * v, v + 1) is a constant: it needs no node and no gradient.
    def __add__(self, other):
        if isinstance(other, Value):
            return Value(self.data + other.data, (self, other), (1, 1))
        return Value(self.data + other, (self,), (1,))

    def __mul__(self, other):
        if isinstance(other, Value):  # d(xy)/dx = y, d(xy)/dy = x
            return Value(self.data * other.data, (self, other), (other.data, self.data))
        return Value(self.data * other, (self,), (other,))

    def __pow__(self, k):  # k is a number: d(x^k)/dx = k x^(k-1)
        return Value(self.data ** k, (self,), (k * self.data ** (k - 1),))

    def exp(self):  # d(e^x)/dx = e^x
        e = math.exp(self.data)
        return Value(e, (self,), (e,))

    def log(self):  # d(ln x)/dx = 1/x
        return Value(math.log(self.data), (self,), (1 / self.data,))

    def relu(self):  # max(0, x): slope 1 where x > 0, else 0
        return Value(max(0, self.data), (self,), (float(self.data > 0),))

    # the rest is made of the operations above
    def __neg__(self):
        return self * -1

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-other)

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):  # x / y = x * y^-1
        return self * other ** -1

    def backward(self):
        # A node may pass its gradient on once all of it has arrived: after every node computed from it. A
        # depth-first post-order lists each node after its children; reversed, it is that order. The stack
        # is the textbook recursion without Python's recursion limit. Leaves pass nothing on: not listed.
        topo, visited = [], {self}
        stack = [(self, iter(self._children))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if child._children and child not in visited:
                    visited.add(child)
                    stack.append((child, iter(child._children)))
                    break  # down into the child first; this node's loop resumes after it
            else:
                stack.pop()
                topo.append(node)
        self.grad = 1  # d out/d out
        for node in reversed(topo):
            g = node.grad
            for child, local_grad in zip(node._children, node._local_grads):
                child.grad += local_grad * g


def dot(a, b):
    # sum_i a_i b_i as ONE node rather than a product and a sum node per term: d/da_i = b_i, d/db_i = a_i.
    # The same numbers as sum(x * y for x, y in zip(a, b)), gradients included, in a fraction of the time.
    data, children, local_grads = 0, [], []
    for x, y in zip(a, b):
        data += x.data * y.data  # left to right from 0 like sum() of Values (3.12's sum() of floats rounds otherwise)
        children.append(x)
        children.append(y)
        local_grads.append(y.data)
        local_grads.append(x.data)
    return Value(data, children, local_grads)


# --- the parameters
# GPT-2's names: wte/wpe embed a token/position, attn_* and mlp_* are the block's matrices, lm_head turns
# the last vector into one score (logit) per token. A matrix is a list of rows: row o feeds output o.
n_layer = 1  # transformer blocks
n_embd = 16  # channels of the residual stream
n_head = 4  # attention heads, each on its own n_embd // n_head channels
block_size = 16  # the longest context: BOS and 15 characters
head_dim = n_embd // n_head


def matrix(n_out, n_in, std=0.08):
    return [[Value(random.gauss(0, std)) for _ in range(n_in)] for _ in range(n_out)]


state_dict = {"wte": matrix(vocab_size, n_embd), "wpe": matrix(block_size, n_embd),
              "lm_head": matrix(vocab_size, n_embd)}
for i in range(n_layer):
    state_dict["layer%d.attn_wq" % i] = matrix(n_embd, n_embd)
    state_dict["layer%d.attn_wk" % i] = matrix(n_embd, n_embd)
    state_dict["layer%d.attn_wv" % i] = matrix(n_embd, n_embd)
    state_dict["layer%d.attn_wo" % i] = matrix(n_embd, n_embd)
    state_dict["layer%d.mlp_fc1" % i] = matrix(4 * n_embd, n_embd)
    state_dict["layer%d.mlp_fc2" % i] = matrix(n_embd, 4 * n_embd)
params = [p for mat in state_dict.values() for row in mat for p in row]
print("num params: %d" % len(params))


# --- the model
def linear(x, w):
    return [dot(w_o, x) for w_o in w]  # y_o = sum_i w[o][i] x_i: (n_in,) -> (n_out,)


def softmax(logits):
    # p_i = e^(l_i) / sum_j e^(l_j); subtracting the max changes nothing but keeps exp() from overflowing
    max_val = max(logit.data for logit in logits)
    exps = [(logit - max_val).exp() for logit in logits]
    total = sum(exps)
    return [e / total for e in exps]


def rmsnorm(x):
    # x * rstd, rstd = 1/sqrt(mean(x^2) + eps): every vector brought to a root mean square of 1
    ms = dot(x, x) / len(x)
    rstd = (ms + 1e-5) ** -0.5
    return [xi * rstd for xi in x]


def gpt(token_id, pos_id, keys, values):
    """The logits of the token after `token_id` at position `pos_id`. keys/values hold, per layer, those
    of the positions before it (a KV cache): they are all that attention needs of the past."""
    x = [t + p for t, p in zip(state_dict["wte"][token_id], state_dict["wpe"][pos_id])]  # (n_embd,)
    x = rmsnorm(x)
    for li in range(n_layer):
        # 1) attention: the position mixes in information from itself and the positions before it
        x_residual = x
        x = rmsnorm(x)
        q = linear(x, state_dict["layer%d.attn_wq" % li])  # what this position looks for
        k = linear(x, state_dict["layer%d.attn_wk" % li])  # what it offers to be found by
        v = linear(x, state_dict["layer%d.attn_wv" % li])  # what it hands over when found
        keys[li].append(k)
        values[li].append(v)
        x_attn = []
        for hs in range(0, n_embd, head_dim):  # each head: its own slice of the channels
            q_h = q[hs:hs + head_dim]
            k_h = [k_t[hs:hs + head_dim] for k_t in keys[li]]  # (t, head_dim): causal, no future is cached
            v_h = [v_t[hs:hs + head_dim] for v_t in values[li]]
            # score_t = q . k_t / sqrt(head_dim): the scaling keeps the softmax from saturating
            attn_logits = [dot(q_h, k_t) / head_dim ** 0.5 for k_t in k_h]
            attn_weights = softmax(attn_logits)  # (t,), sums to 1
            # out_j = sum_t a_t v_t[j]: a weighted average of the values
            x_attn.extend(dot(attn_weights, [v_t[j] for v_t in v_h]) for j in range(head_dim))
        x = linear(x_attn, state_dict["layer%d.attn_wo" % li])
        x = [a + b for a, b in zip(x, x_residual)]  # residual: the block adds to x, the gradient flows past
        # 2) MLP: per position, widen to 4 * n_embd, ReLU, narrow back
        x_residual = x
        x = rmsnorm(x)
        x = [xi.relu() for xi in linear(x, state_dict["layer%d.mlp_fc1" % li])]  # (4 * n_embd,)
        x = linear(x, state_dict["layer%d.mlp_fc2" % li])  # (n_embd,)
        x = [a + b for a, b in zip(x, x_residual)]
    return linear(x, state_dict["lm_head"])  # (vocab_size,)


# --- training
# Adam: m and v are running means of each gradient and of its square; a step of m / sqrt(v) moves every parameter at
# a similar pace whatever its gradient's scale. Both start at 0, too small early on: / (1 - beta^t) undoes that.
learning_rate, beta1, beta2, eps_adam = 0.01, 0.85, 0.99, 1e-8
m, v = [0.0] * len(params), [0.0] * len(params)
# A step's graph has no cycles, so CPython's reference counting frees it and its cycle collector would only walk it
# over and over (a fifth of the time). PyPy frees nothing without its collector: there it stays on.
if sys.implementation.name == "cpython":
    gc.disable()
num_steps = 1000
for step in range(num_steps):
    tokens = [BOS] + [uchars.index(ch) for ch in docs[step % len(docs)]] + [BOS]
    n = min(block_size, len(tokens) - 1)  # positions trained on: one per next token, at most block_size
    keys, values = [[] for _ in range(n_layer)], [[] for _ in range(n_layer)]
    losses = []
    for pos_id in range(n):
        probs = softmax(gpt(tokens[pos_id], pos_id, keys, values))
        losses.append(-probs[tokens[pos_id + 1]].log())  # cross-entropy: -log p(the actual next token)
    loss = (1 / n) * sum(losses)  # the mean over the document's positions
    loss.backward()
    lr_t = learning_rate * (1 - step / num_steps)  # a linear decay to 0 over the run
    c1, c2 = 1 - beta1 ** (step + 1), 1 - beta2 ** (step + 1)  # the bias corrections
    for i, p in enumerate(params):
        m[i] = beta1 * m[i] + (1 - beta1) * p.grad
        v[i] = beta2 * v[i] + (1 - beta2) * p.grad ** 2
        p.data -= lr_t * (m[i] / c1) / ((v[i] / c2) ** 0.5 + eps_adam)  # lr * m_hat / (sqrt(v_hat) + eps)
        p.grad = 0  # gradients add up in backward(): start the next step from 0
    print("step %4d / %4d | loss %.4f" % (step + 1, num_steps, loss.data))

# --- sampling
# From BOS, draw a token from the model's probabilities and feed it back, until BOS again (the name is done)
# or a full context. The logits are divided by a temperature T: T < 1 sharpens the odds, T > 1 flattens them.
temperature = 0.5
print("--- inference (new, hallucinated names) ---")
for sample_idx in range(20):
    keys, values = [[] for _ in range(n_layer)], [[] for _ in range(n_layer)]
    token_id, name = BOS, []
    for pos_id in range(block_size):
        probs = softmax([logit / temperature for logit in gpt(token_id, pos_id, keys, values)])
        token_id = random.choices(range(vocab_size), weights=[p.data for p in probs])[0]
        if token_id == BOS:
            break
        name.append(uchars[token_id])
    print("sample %2d: %s" % (sample_idx + 1, "".join(name)))
