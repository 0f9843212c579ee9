"""Check your answer to a course exercise, offline, with nothing to install.

    python course/check.py                       every exercise, and whether course/exercises/NAME.py passes
    python course/check.py NAME                  check course/exercises/NAME.py
    python course/check.py NAME --file PATH      check the function NAME in another file of yours
    python course/check.py NAME --hint 1         the first hint (the last one is the key equation)
    python course/check.py NAME --solution       the answer, course/solutions/NAME.py

Each exercise is one function. The checker calls yours on fixed cases (the edge cases a careless version
fails: large logits, a single element, the first Adam step, ...) and on random ones, and compares every
number it returns with a reference written here, independently of the solutions: plain code for values,
central finite differences for gradients. It prints `ok` (exit status 0), or the first case and the first
element that is wrong, expected against got, with a one-line hint (exit status 1). When your code raises
an exception, you see your own traceback (the lines of your file only) and the case that caused it.
"""

import argparse
import copy
import importlib.util
import math
import os
import random
import signal
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TIME_LIMIT = 10  # seconds for loading a file and running every case of one exercise


# --------------------------------------------------------------------------------------------------
# the exercises: each is a function that makes its cases, with the expected result of each

class Case:
    def __init__(self, label, args, expected, hint=None):
        self.label, self.args, self.expected, self.hint = label, args, expected, hint


class Exercise:
    def __init__(self, name, summary, params, outputs, hints, make_cases, tolerance):
        self.name, self.summary, self.params, self.outputs = name, summary, params, outputs
        self.hints, self.make_cases, self.tolerance = hints, make_cases, tolerance


EXERCISES = {}  # name -> Exercise, in the order of the course
VALUES = (1e-9, 1e-12)  # (relative, absolute) tolerance against a value computed the plain way
GRADIENTS = (1e-6, 1e-7)  # against central finite differences, which are good to about 1e-9


def exercise(name, summary, params, outputs, hints, tolerance=VALUES):
    """Register the case maker below it as exercise `name`: params name its arguments, outputs its results."""
    def register(make_cases):
        EXERCISES[name] = Exercise(name, summary, params, outputs, hints, make_cases, tolerance)
        return make_cases
    return register


# --- references, written plainly and independently of course/solutions

def ref_softmax(logits):
    top = max(logits)
    exps = [math.exp(x - top) for x in logits]
    total = sum(exps)
    return [e / total for e in exps]


def ref_logsumexp(xs):
    top = max(xs)
    return top + math.log(sum(math.exp(x - top) for x in xs))


def step_size(x):
    return 1e-6 * max(1.0, abs(x))


def numeric_grad(f, array):
    """Central differences of the number f() with respect to every number of `array` (a list of numbers,
    or a list of rows), changed in place one at a time: (f(a + h) - f(a - h)) / 2h."""
    def slope(container, i):
        saved = container[i]
        h = step_size(saved)
        container[i] = saved + h
        plus = f()
        container[i] = saved - h
        minus = f()
        container[i] = saved
        return (plus - minus) / (2 * h)
    if array and isinstance(array[0], list):
        return [[slope(row, j) for j in range(len(row))] for row in array]
    return [slope(array, i) for i in range(len(array))]


def gauss_list(rng, n, scale=1.0):
    return [round(rng.gauss(0, scale), 4) for _ in range(n)]


def gauss_matrix(rng, rows, cols, scale=1.0):
    return [gauss_list(rng, cols, scale) for _ in range(rows)]


# --- the tokenizer

@exercise("encode", "the tokenizer: a text to its token ids, framed by BOS", ("text", "chars"), ("tokens",), [
    "Token i is the i-th character of chars; BOS, which begins and ends every document, is the token after the "
    "last character.",
    "BOS = len(chars). Look each character of the text up in chars (a dict {ch: i}, built once, is quickest).",
    "tokens = [BOS] + [chars.index(ch) for ch in text] + [BOS], with BOS = len(chars).",
])
def encode_cases():
    def case(label, text, chars, hint=None):
        bos = len(chars)
        return Case(label, (text, chars), [bos] + [list(chars).index(ch) for ch in text] + [bos], hint)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return [case("a name", "emma", letters, "BOS is 26 here: [26, 4, 12, 12, 0, 26]"),
            case("an empty text: BOS and BOS", "", "abc", "an empty document is [BOS, BOS]"),
            case("a vocabulary of one character", "a", "a", "with chars 'a', BOS is 1"),
            case("chars as a list, with a space", "b a", [" ", "a", "b"], "a character's id is its index in chars"),
            case("characters beyond ASCII", "zoë", "ozë", "a character's id is its index in chars")]


@exercise("decode", "the tokenizer's inverse: token ids back to text, BOS left out", ("tokens", "chars"),
          ("text",), [
              "The inverse of encode: every token but BOS becomes its character.",
              "BOS = len(chars), and it is skipped wherever it is, not only at the ends.",
              "text = ''.join(chars[t] for t in tokens if t != len(chars)).",
          ])
def decode_cases():
    def case(label, tokens, chars, hint=None):
        return Case(label, (tokens, chars), "".join(chars[t] for t in tokens if t != len(chars)), hint)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return [case("a framed name", [26, 4, 12, 12, 0, 26], letters, "leave out every BOS (26 here)"),
            case("BOS and BOS: an empty text", [3, 3], "abc"),
            case("a BOS in the middle", [0, 3, 1], "abc", "a BOS anywhere is left out, not only at the ends"),
            case("no BOS at all", [2, 1, 0], "abc"),
            case("no tokens at all", [], "abc"),
            case("chars as a list", [1, 0, 2], ["x", "y", "z"])]


# --- stage 00: counting

@exercise("bigram_probs", "stage 00: the bigram model from counts, with smoothing",
          ("sequences", "vocab_size", "smoothing"), ("probs",), [
              "Count first: counts[a][b] = how many times token b directly follows token a, over every sequence.",
              "Each row a is a distribution over the next token: normalize row by row, not by the grand total.",
              "Smoothing pretends every pair was seen s more times: add s to every count of a row and s * V to "
              "its total; a row whose total is still 0 is all zeros.",
              "probs[a][b] = (counts[a][b] + s) / (sum_b' counts[a][b'] + s * V), or 0 when that total is 0.",
          ])
def bigram_cases():
    def case(label, sequences, vocab_size, smoothing, hint=None):
        counts = [[0] * vocab_size for _ in range(vocab_size)]
        for seq in sequences:
            for i in range(len(seq) - 1):
                counts[seq[i]][seq[i + 1]] += 1
        probs = []
        for row in counts:
            total = sum(row) + smoothing * vocab_size
            probs.append([(c + smoothing) / total if total else 0.0 for c in row])
        return Case(label, (sequences, vocab_size, smoothing), probs, hint)
    rng = random.Random(20)
    cases = [case("one sequence, smoothing 1", [[2, 0, 1, 2]], 3, 1.0,
                  "counts[a][b]: b follows a; each row is divided by its own total"),
             case("two sequences, no smoothing", [[2, 0, 1, 2], [2, 1, 2]], 3, 0.0,
                  "count the pairs of every sequence; without smoothing an unseen pair has probability 0"),
             case("a token that never comes first in a pair, no smoothing", [[1, 0, 1]], 3, 0.0,
                  "a row with no counts and no smoothing has a total of 0: make it all zeros"),
             case("a sequence of one token: no pairs", [[0]], 2, 1.0, "no pairs, so every smoothed row is uniform"),
             case("no sequences, smoothing 0.5", [], 3, 0.5, "no pairs, so every smoothed row is uniform"),
             case("smoothing 0.5", [[0, 1, 0, 1, 1]], 2, 0.5, "add s to every count and s * V to the row's total")]
    for i in range(4):
        v = rng.randint(2, 6)
        seqs = [[rng.randrange(v) for _ in range(rng.randint(1, 8))] for _ in range(rng.randint(1, 4))]
        cases.append(case("random sequences #%d" % (i + 1), seqs, v, rng.choice([0.0, 0.1, 1.0])))
    return cases


# --- stage 01: the MLP and its gradient

@exercise("softmax", "logits to probabilities: exp, then normalize", ("logits",), ("probs",), [
    "Two passes: exponentiate every logit, then divide each by the total of them all.",
    "exp() of a large logit overflows (exp(710) is already too big for a float), but exp(l_i - c) / sum_j "
    "exp(l_j - c) is the same number for any constant c.",
    "Take c = max(logits): every exponent is then <= 0, so nothing overflows, and one term is exp(0) = 1, so "
    "the total is at least 1.",
    "probs[i] = exp(logits[i] - m) / sum_j exp(logits[j] - m), with m = max(logits).",
])
def softmax_cases():
    shift = "subtract max(logits) from every logit before exp(): the probabilities stay the same"

    def case(label, logits, hint=None):
        return Case(label, (logits,), ref_softmax(logits), hint)
    rng = random.Random(1)
    cases = [case("three logits", [1.0, 2.0, 3.0]),
             case("equal logits: every probability is 1/4", [0.0, 0.0, 0.0, 0.0]),
             case("a single logit", [5.0], "one logit: its probability is 1"),
             case("large logits: exp(1000) overflows a float", [1000.0, 999.0, 998.0], shift),
             case("very negative logits: exp(-1000) is 0.0", [-1000.0, -1001.0], shift),
             case("a wide range: 1000 and -1000", [1000.0, -1000.0], "subtract the largest logit, max(logits)"),
             case("mixed logits", [2.0, -3.0, 0.5, 0.0, 7.25])]
    for i in range(8):
        cases.append(case("random logits #%d" % (i + 1), gauss_list(rng, rng.randint(1, 30), rng.choice([1, 10, 100]))))
    return cases


@exercise("cross_entropy", "the loss -log softmax(logits)[target] and its gradient", ("logits", "target"),
          ("loss", "dlogits"), [
              "The loss is -log of the probability softmax gives the target; dlogits[i] says how fast the loss "
              "changes when logits[i] moves.",
              "-log softmax(l)[t] = log(sum_j exp(l_j)) - l_t: no probability to take the log of (it can be 0), "
              "and with the max subtracted inside the log, no overflow.",
              "d/dl_i log(sum_j exp(l_j)) = exp(l_i) / sum_j exp(l_j) = softmax(l)_i, and d/dl_i of -l_t is -1 "
              "when i = t, else 0.",
              "loss = m + log(sum_j exp(l_j - m)) - l_target (m = max(logits)); "
              "dlogits[i] = softmax(logits)[i] - (1 if i == target else 0).",
          ], tolerance=GRADIENTS)
def cross_entropy_cases():
    def case(label, logits, target, hint=None):
        def loss():
            return ref_logsumexp(logits) - logits[target]
        return Case(label, (logits, target), (loss(), numeric_grad(loss, logits)), hint)
    rng = random.Random(2)
    cases = [case("three logits, the last is the target", [1.0, 2.0, 3.0], 2),
             case("three logits, the first is the target", [1.0, 2.0, 3.0], 0),
             case("a single logit: the loss is 0, and so is its gradient", [0.5], 0,
                  "with one logit its probability is 1 whatever the logit: loss 0, dlogits [0]"),
             case("large logits: the target's probability underflows to 0", [1000.0, 0.0, -1000.0], 1,
                  "compute loss = m + log(sum_j exp(l_j - m)) - l_target, never log() of a probability that may be 0"),
             case("equal logits: the loss is log 3", [0.0, 0.0, 0.0], 1)]
    for i in range(8):
        logits = gauss_list(rng, rng.randint(1, 30), rng.choice([1, 10]))
        cases.append(case("random logits #%d" % (i + 1), logits, rng.randrange(len(logits))))
    return cases


@exercise("sample_next", "sampling: the next token from logits, a temperature and a uniform number u",
          ("logits", "temperature", "u"), ("index",), [
              "Turn the logits into probabilities (a softmax of the logits divided by the temperature), then walk "
              "along them, adding up, until the running total passes u.",
              "Divide every logit by the temperature before the softmax: below 1 it sharpens the distribution, above "
              "1 it flattens it. Large logits need the max subtracted, as in softmax.",
              "Return the first index i where p_0 + ... + p_i > u, strictly greater: so a token of probability 0 "
              "is never drawn, not even at u = 0.",
              "p = softmax([l / temperature for l in logits]); return the smallest i with sum_{j<=i} p_j > u.",
          ])
def sample_next_cases():
    strict = "the running total must EXCEED u (>, not >=)"

    def answer(logits, temperature, u):
        total = 0.0
        for i, p in enumerate(ref_softmax([x / temperature for x in logits])):
            total += p
            if total > u:
                return i
        return len(logits) - 1

    def case(label, logits, temperature, u, hint=None):
        return Case(label, (logits, temperature, u), answer(logits, temperature, u), hint)
    rng = random.Random(7)
    cases = [case("two equal logits, u = 0.25", [0.0, 0.0], 1.0, 0.25),
             case("u on a boundary: the first running total is exactly 0.5", [0.0, 0.0], 1.0, 0.5, strict),
             case("u = 0", [0.0, 0.0, 0.0, 0.0], 1.0, 0.0),
             case("a single logit", [3.0], 0.5, 0.9, "with one logit, the only index is 0"),
             case("a token of probability 0 (exp underflows), u = 0", [-1000.0, 0.0, 0.0], 1.0, 0.0, strict),
             case("temperature 0.5 sharpens", [1.0, 2.0, 3.0], 0.5, 0.2, "divide the logits by the temperature"),
             case("temperature 2 flattens", [1.0, 2.0, 3.0], 2.0, 0.2, "divide the logits by the temperature"),
             case("large logits", [1000.0, 999.0, 0.0], 1.0, 0.8, "subtract the largest logit before exp()"),
             case("u close to 1", [1.0, 2.0], 1.0, 0.9999)]
    while len(cases) < 17:
        logits = gauss_list(rng, rng.randint(1, 10), 3.0)
        temperature, u = rng.choice([0.5, 1.0, 2.0]), round(rng.random(), 6)
        running, near = 0.0, False
        for p in ref_softmax([x / temperature for x in logits]):
            running += p
            near = near or abs(running - u) < 1e-9  # no case where rounding could decide the answer
        if not near:
            cases.append(case("random logits #%d" % (len(cases) - 8), logits, temperature, u))
    return cases


@exercise("linear_backward", "the gradient of out = w @ x for x and for w", ("x", "w", "dout"), ("dx", "dw"), [
    "out[i] = sum_j w[i][j] x[j]. For each input and each weight ask: which outputs does it change, and by "
    "how much per unit?",
    "w[i][j] changes only out[i], with slope x[j]; x[j] changes every out[i], with slope w[i][j].",
    "By the chain rule, add up over everything a number changes: dx[j] = sum_i (d out[i] / d x[j]) * dout[i]. "
    "dw has w's shape (n_out rows of n_in), dx has x's.",
    "dw[i][j] = dout[i] * x[j];  dx[j] = sum_i w[i][j] * dout[i].",
], tolerance=GRADIENTS)
def linear_backward_cases():
    def case(label, x, w, dout, hint=None):
        def loss():  # sum_i dout[i] * out[i]: its gradient is the backward pass of out = w @ x
            return sum(d * sum(wij * xj for wij, xj in zip(row, x)) for d, row in zip(dout, w))
        return Case(label, (x, w, dout), (numeric_grad(loss, x), numeric_grad(loss, w)), hint)
    rng = random.Random(3)
    cases = [case("2 outputs of 2 inputs", [1.0, 2.0], [[1.0, 2.0], [3.0, 4.0]], [1.0, -1.0],
                  "dw[i][j] = dout[i] * x[j] (row i is output i); dx[j] sums w[i][j] * dout[i] over the outputs i"),
             case("2 outputs of 3 inputs", [1.0, -2.0, 0.5], [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], [2.0, 3.0],
                  "dw has w's shape (2 rows of 3), dx has x's (3 numbers)"),
             case("one input, one output", [3.0], [[2.0]], [5.0]),
             case("one output of 4 inputs", [1.0, 2.0, 3.0, 4.0], [[1.0, 0.0, -1.0, 2.0]], [0.5]),
             case("3 outputs of one input: dx adds up all three", [2.0], [[1.0], [2.0], [3.0]], [1.0, 1.0, 1.0],
                  "x[0] changes every output: dx[0] = sum_i w[i][0] * dout[i]")]
    for i in range(6):
        n_in, n_out = rng.randint(1, 6), rng.randint(1, 6)
        cases.append(case("random #%d, %d outputs of %d inputs" % (i + 1, n_out, n_in), gauss_list(rng, n_in),
                          gauss_matrix(rng, n_out, n_in), gauss_list(rng, n_out)))
    return cases


# --- stage 02: autograd

@exercise("backprop", "autograd's backward pass on a graph given as lists", ("children", "local_grads", "out"),
          ("grads",), [
              "grads[out] = 1. A node passes its gradient on to each of its children, multiplied by the local "
              "derivative: that is the chain rule.",
              "A node may pass its gradient on only when it is complete, i.e. after every node computed from it has "
              "passed its share to it. The node numbers say nothing about that order.",
              "Depth-first from out, list each node after all of its children: walking that list backwards, every "
              "node comes before its children. A child listed twice (x * x) gets both shares.",
              "for node in reversed(topo): for child, local in zip(children[node], local_grads[node]): "
              "grads[child] += local * grads[node].",
          ])
def backprop_cases():
    def case(label, children, local_grads, out, hint=None):
        memo = {out: 1.0}

        def grad(j):  # d out / d node j: the sum over the nodes computed from j (pulled, not pushed)
            if j not in memo:
                memo[j] = sum((local_grads[i][k] * grad(i) for i in range(len(children))
                               for k, c in enumerate(children[i]) if c == j), 0.0)
            return memo[j]
        return Case(label, (children, local_grads, out), [grad(j) for j in range(len(children))], hint)
    rng = random.Random(5)
    order = "a node's gradient is complete only after every node computed from it has passed its share"
    cases = [case("a chain: 2 = f(1), 1 = f(0)", [[], [0], [1]], [[], [3.0], [2.0]], 2,
                  "multiply the local derivatives along the chain: grads[0] = 2 * 3"),
             case("a diamond: node 0 reaches the output along two paths", [[], [0], [0], [1, 2]],
                  [[], [2.0], [3.0], [1.0, 1.0]], 3, "gradients from different paths add up (+=, not =)"),
             case("x * x: the same child listed twice", [[], [0, 0]], [[], [4.0, 4.0]], 1,
                  "a child listed twice gets both shares: 4 + 4"),
             case("nodes not numbered in graph order", [[2], [], [3, 1], [1]], [[0.5], [], [2.0, -1.0], [4.0]], 0,
                  order),
             case("a single node: the output itself", [[]], [[]], 0, "grads[out] = 1"),
             case("nodes the output does not depend on", [[], [0], [0], [1]], [[], [2.0], [5.0], [3.0]], 3,
                  "a node the output does not depend on has gradient 0")]
    for i in range(4):
        n = rng.randint(3, 8)
        label = list(range(n))
        rng.shuffle(label)  # node k of a graph built in order gets the number label[k]
        children, local_grads = [[] for _ in range(n)], [[] for _ in range(n)]
        for k in range(1, n):
            for c in rng.sample(range(k), rng.randint(1, min(2, k))):
                children[label[k]].append(label[c])
                local_grads[label[k]].append(round(rng.uniform(-2, 2), 3))
        cases.append(case("a random graph of %d nodes #%d" % (n, i + 1), children, local_grads, label[n - 1], order))
    return cases


# --- stage 03: attention's pieces

@exercise("softmax_backward", "the gradient through a softmax: from dprobs to dlogits", ("probs", "dprobs"),
          ("dlogits",), [
              "Moving one logit changes every probability, not just its own: the gradient of each logit collects "
              "from all of dprobs.",
              "d p_j / d l_i = p_j * ([i == j] - p_i).",
              "dlogits[i] = sum_j dprobs[j] * p_j * ([i == j] - p_i).",
              "dlogits[i] = p_i * (dprobs[i] - sum_j p_j * dprobs[j]).",
          ], tolerance=GRADIENTS)
def softmax_backward_cases():
    def case(label, probs, dprobs, hint=None):
        logits = [math.log(p) for p in probs]  # logits whose softmax is probs

        def loss():
            return sum(d * p for d, p in zip(dprobs, ref_softmax(logits)))
        return Case(label, (probs, dprobs), numeric_grad(loss, logits), hint)
    rng = random.Random(6)
    cases = [case("two probabilities", [0.5, 0.5], [1.0, 0.0]),
             case("one probability: always 1, so no gradient", [1.0], [3.0], "a lone probability is 1 whatever "
                  "the logit"),
             case("the same dprobs everywhere: nothing changes", [0.2, 0.3, 0.5], [1.0, 1.0, 1.0],
                  "the probabilities always sum to 1, so adding the same to every dprobs changes no dlogits"),
             case("four probabilities", [0.1, 0.2, 0.3, 0.4], [0.5, -1.0, 2.0, 0.0])]
    for i in range(6):
        probs = ref_softmax(gauss_list(rng, rng.randint(1, 10), 2.0))
        cases.append(case("random #%d" % (i + 1), probs, gauss_list(rng, len(probs))))
    return cases


@exercise("rmsnorm_backward", "the gradient of RMSNorm, y = x / sqrt(mean(x^2) + eps)", ("x", "dout", "eps"),
          ("dx",), [
              "y_i = x_i * r with r = (mean(x^2) + eps)^(-1/2): every y_i depends on every x_j, through r.",
              "The product rule: d y_i / d x_j = r * [i == j] + x_i * d r / d x_j.",
              "d r / d x_j = -1/2 * (mean(x^2) + eps)^(-3/2) * 2 x_j / n = -r^3 * x_j / n.",
              "dx_j = r * dout_j - (r^3 / n) * x_j * sum_i dout_i * x_i, with r = 1 / sqrt(mean(x^2) + eps), "
              "n = len(x).",
          ], tolerance=GRADIENTS)
def rmsnorm_backward_cases():
    def case(label, x, dout, eps=1e-5, hint=None):
        def loss():
            r = (sum(xi * xi for xi in x) / len(x) + eps) ** -0.5
            return sum(d * xi * r for d, xi in zip(dout, x))
        return Case(label, (x, dout, eps), numeric_grad(loss, x), hint)
    rng = random.Random(4)
    through_r = "r depends on x too: dx_j = r * dout_j - (r^3 / n) * x_j * sum_i dout_i x_i"
    cases = [case("three numbers, one output's gradient", [1.0, 2.0, 3.0], [1.0, 0.0, 0.0], hint=through_r),
             case("three numbers", [1.0, 2.0, 3.0], [0.3, -0.2, 0.5], hint=through_r),
             case("a single number: y is almost exactly 1, so dx is almost 0", [3.0], [1.0], hint=through_r),
             case("all zeros: only eps keeps the division finite", [0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0],
                  hint="at x = 0, r = 1 / sqrt(eps) and dx = r * dout"),
             case("eps = 0.5, given as the argument", [1.0, -1.0], [1.0, 1.0], 0.5, "use the eps argument")]
    for i in range(6):
        n = rng.randint(1, 16)
        cases.append(case("random #%d, %d numbers" % (i + 1, n), gauss_list(rng, n, rng.choice([0.1, 1.0, 10.0])),
                          gauss_list(rng, n)))
    return cases


@exercise("causal_attention", "one head of causal self-attention", ("q", "k", "v"), ("out",), [
    "Each position t mixes the value rows of positions 0..t, with weights that sum to 1.",
    "The weights of position t: the scores q[t] . k[s] / sqrt(d) for s = 0..t only (never a later position), "
    "then a softmax over those t + 1 scores. d is len(q[0]), the width of a query.",
    "Subtract the row's largest score before exp(), as in softmax. out[t] is as wide as a value row.",
    "out[t][j] = sum_{s<=t} a[t][s] * v[s][j], a[t][s] = exp(e_s - max e) / sum_{s'<=t} exp(e_s' - max e), "
    "e_s = (q[t] . k[s]) / sqrt(d).",
])
def causal_attention_cases():
    def attend(q, k, v):
        d, out = len(q[0]), []
        for t in range(len(q)):
            weights = ref_softmax([sum(a * b for a, b in zip(q[t], k[s])) / math.sqrt(d) for s in range(t + 1)])
            out.append([sum(weights[s] * v[s][j] for s in range(t + 1)) for j in range(len(v[0]))])
        return out

    def case(label, q, k, v, hint=None):
        return Case(label, (q, k, v), attend(q, k, v), hint)
    rng = random.Random(8)
    cases = [case("one position: it attends only to itself", [[1.0, 0.0]], [[0.5, 0.5]], [[2.0, 3.0]],
                  "with one position, the only weight is 1: out[0] = v[0]"),
             case("two positions: the first must not see the second", [[1.0, 0.0], [1.0, 1.0]],
                  [[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]],
                  "position t attends to positions 0..t only: leave out the scores of later positions"),
             case("values wider than queries and keys", [[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [2.0, 1.0]],
                  [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], "out[t] has one number per column of v"),
             case("queries 4 wide: the scores are divided by sqrt(4)", [[1.0, 2.0, 0.0, 1.0], [0.5, 0.5, 0.5, 0.5]],
                  [[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 2.0]], [[1.0, -1.0], [3.0, 0.0]],
                  "divide q . k by sqrt(d), d = len(q[0])"),
             case("large scores: exp() overflows", [[30.0, 30.0], [30.0, 30.0]], [[30.0, 30.0], [29.0, 31.0]],
                  [[1.0, 2.0], [3.0, 4.0]], "subtract each row's largest score before exp()"),
             case("three positions", [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [[1.0, 2.0], [0.5, -1.0], [0.0, 1.0]],
                  [[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])]
    for i in range(6):
        t, d, dv = rng.randint(1, 6), rng.randint(1, 4), rng.randint(1, 4)
        cases.append(case("random #%d, %d positions" % (i + 1, t), gauss_matrix(rng, t, d), gauss_matrix(rng, t, d),
                          gauss_matrix(rng, t, dv)))
    return cases


# --- stage 05: Adam

@exercise("adam_step", "one step of Adam for one parameter, with bias correction",
          ("p", "g", "m", "v", "t", "lr", "beta1", "beta2", "eps"), ("p", "m", "v"), [
              "Update the two running means first, then correct them for having started at 0, then step.",
              "m = beta1 * m + (1 - beta1) * g and v = beta2 * v + (1 - beta2) * g^2; the new m and v are what you "
              "return.",
              "m and v start at 0, so after t steps they are too small by a factor (1 - beta^t): divide by it. t "
              "counts from 1, so at the first step m_hat = g and v_hat = g^2.",
              "p = p - lr * m_hat / (sqrt(v_hat) + eps), m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t).",
          ])
def adam_step_cases():
    def case(label, p, g, m, v, t, lr, beta1=0.85, beta2=0.99, eps=1e-8, hint=None):
        new_m = beta1 * m + (1 - beta1) * g
        new_v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = new_m / (1 - beta1 ** t), new_v / (1 - beta2 ** t)
        expected = (p - lr * m_hat / (math.sqrt(v_hat) + eps), new_m, new_v)
        return Case(label, (p, g, m, v, t, lr, beta1, beta2, eps), expected, hint)
    rng = random.Random(9)
    first = ("the first step is t = 1: m_hat = m / (1 - beta1^1) = g and v_hat = g^2, so p moves by lr, against "
             "the sign of g")
    cases = [case("the first step: m and v start at 0", 1.0, 0.5, 0.0, 0.0, 1, 0.01, hint=first),
             case("the first step, a negative gradient", 1.0, -2.0, 0.0, 0.0, 1, 0.1, hint=first),
             case("a tiny gradient: eps is added to sqrt(v_hat)", 0.3, 1e-4, 0.0, 0.0, 1, 0.01,
                  hint="eps is added after the square root: sqrt(v_hat) + eps"),
             case("the second step (t = 2)", 0.5, 0.1, 0.05, 0.002, 2, 0.01,
                  hint="t counts from 1: divide by 1 - beta^t with this t"),
             case("a zero gradient: m and v decay, p still moves", 0.5, 0.0, 0.05, 0.002, 10, 0.01),
             case("other betas and eps, given as arguments", 0.5, 0.3, 0.1, 0.01, 3, 0.01, 0.9, 0.999, 1e-6,
                  hint="use the beta1, beta2 and eps arguments, not constants"),
             case("late in training: the corrections are about 1", -0.2, 0.05, 0.04, 0.003, 10000, 0.001)]
    for i in range(6):
        g = round(rng.gauss(0, 1), 4)
        cases.append(case("random #%d" % (i + 1), round(rng.gauss(0, 1), 4), g, round(rng.gauss(0, 0.1), 4),
                          round(rng.uniform(0, 0.1), 4), rng.randint(1, 50), 0.01))
    return cases



# --------------------------------------------------------------------------------------------------
# running a learner's function, and showing what went wrong

class LearnerError(Exception):
    """An exception raised by the learner's code: `text` is their traceback, `exc` the exception."""

    def __init__(self, exc, text):
        super().__init__(text)
        self.exc, self.text = exc, text


class TimeLimit(Exception):
    pass


def on_alarm(signum, frame):
    raise TimeLimit("took more than %d seconds (an endless loop?)" % TIME_LIMIT)


class time_limit:
    """Stops the learner's code after TIME_LIMIT seconds, where the platform allows (SIGALRM)."""

    def __enter__(self):
        self.armed = hasattr(signal, "setitimer")
        if self.armed:
            self.old = signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
        return self

    def __exit__(self, *exc):
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old)


def learner_traceback(exc, path):
    """The traceback of `exc` with only the frames of the learner's file, then the exception itself."""
    real = os.path.realpath(path)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.realpath(f.filename) == real]
    lines = ["Traceback (most recent call last; the lines of your file only):\n"] if frames else []
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines).rstrip("\n")


def run_learner(path, function, *args):
    """function(*args), turning any exception (KeyboardInterrupt aside) into a LearnerError."""
    try:
        return function(*args)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # SystemExit too: the learner's code must not end the checker
        raise LearnerError(e, learner_traceback(e, path))


_loaded = [0]


def load(path, name):
    """The function `name` of the learner's file at `path`, or a LearnerError / a ValueError saying why not."""
    if not os.path.isfile(path):
        raise ValueError("there is no file %s" % shown(path))
    _loaded[0] += 1
    spec = importlib.util.spec_from_file_location("course_learner_%d" % _loaded[0], path)
    module = importlib.util.module_from_spec(spec)
    run_learner(path, spec.loader.exec_module, module)
    function = getattr(module, name, None)
    if not callable(function):
        raise ValueError("%s defines no function %s" % (shown(path), name))
    return function


def shown(path):
    """`path` as a learner would type it: relative to the current folder when that is shorter."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive, on Windows
        return path
    return rel if len(rel) < len(path) else path


def is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def show(x, limit=8, digits=10):
    """A value, short: numbers to `digits` significant digits, lists cut after `limit` items."""
    if isinstance(x, float):
        return repr(x) if len(repr(x)) <= 12 else "%.*g" % (digits, x)
    if isinstance(x, (list, tuple)):
        items = [show(item, limit, digits) for item in x[:limit]]
        more = ", ... (%d in all)" % len(x) if len(x) > limit else ""
        return "[" + ", ".join(items) + more + "]"
    return repr(x)


def kind(x):
    if isinstance(x, (list, tuple)):
        return "a %s of %d" % (type(x).__name__, len(x))
    return "%s (a %s)" % (show(x), type(x).__name__)


def first_difference(expected, got, path, tolerance):
    """None when `got` matches `expected`; else (path, expected, got) of the first element that does not."""
    rel, abs_ = tolerance
    if isinstance(expected, str):
        return None if got == expected else (path, repr(expected), repr(got) if isinstance(got, str) else kind(got))
    if isinstance(expected, list):
        if not isinstance(got, (list, tuple)):
            return path, "a list of %d" % len(expected), kind(got)
        if len(got) != len(expected):
            return path, "a list of %d" % len(expected), "a list of %d" % len(got)
        for i, (e, g) in enumerate(zip(expected, got)):
            found = first_difference(e, g, "%s[%d]" % (path, i), tolerance)
            if found:
                return found
        return None
    if isinstance(expected, int) and not isinstance(expected, bool):  # an index: exactly
        if isinstance(got, int) and not isinstance(got, bool) and got == expected:
            return None
        return path, str(expected), kind(got) if not (isinstance(got, int) and not isinstance(got, bool)) else str(got)
    if not is_number(got):
        return path, show(expected), kind(got)
    if math.isfinite(got) and abs(got - expected) <= abs_ + rel * abs(expected):
        return None
    digits = 7 if rel >= 1e-7 else 10  # a finite difference is good to about 7 digits: show no more
    return path, show(expected, digits=digits), show(float(got))


def check_result(ex, expected, got):
    """The first wrong element of a case's result, or None; a function with several results returns a tuple."""
    if len(ex.outputs) == 1:
        return first_difference(expected, got, ex.outputs[0], ex.tolerance)
    if not isinstance(got, (list, tuple)) or len(got) != len(ex.outputs):
        return "the result", "%d results: %s" % (len(ex.outputs), ", ".join(ex.outputs)), kind(got)
    for name, e, g in zip(ex.outputs, expected, got):
        found = first_difference(e, g, name, ex.tolerance)
        if found:
            return found
    return None


def describe_input(ex, case):
    return ", ".join("%s = %s" % (name, show(value, 12)) for name, value in zip(ex.params, case.args))


class Verdict:
    """What checking one file gave: status is ok, not done, wrong, error or cannot load; lines say it all."""

    def __init__(self, status, lines, short=""):
        self.status, self.lines, self.short = status, lines, short


def check(ex, path):
    cases = ex.make_cases()
    try:
        with time_limit():
            function = load(path, ex.name)
            for number, case in enumerate(cases, 1):
                where = "case %d of %d (%s)" % (number, len(cases), case.label)
                try:
                    got = run_learner(path, function, *copy.deepcopy(case.args))
                except LearnerError as e:
                    if isinstance(e.exc, NotImplementedError):
                        return not_done(ex, path)
                    return Verdict("error", ["%s: your code raised an exception on %s" % (ex.name, where), e.text,
                                             "  input: %s" % describe_input(ex, case),
                                             "  hint: %s" % (case.hint or ex.hints[0])],
                                   "error on case %d (%s)" % (number, type(e.exc).__name__))
                found = check_result(ex, case.expected, got)
                if found:
                    element, expected, actual = found
                    return Verdict("wrong", ["%s: wrong on %s" % (ex.name, where),
                                             "  input: %s" % describe_input(ex, case),
                                             "  %s: expected %s, got %s" % (element, expected, actual),
                                             "  hint: %s" % (case.hint or ex.hints[0])],
                                   "wrong on case %d: %s" % (number, element))
    except LearnerError as e:  # while loading the file
        if isinstance(e.exc, NotImplementedError):
            return not_done(ex, path)
        return Verdict("cannot load", ["%s: %s raised an exception as it was loaded" % (ex.name, shown(path)), e.text],
                       "cannot load it (%s)" % type(e.exc).__name__)
    except ValueError as e:
        return Verdict("cannot load", ["%s: %s" % (ex.name, e)], "cannot load it")
    return Verdict("ok", ["ok: %s passes all %d cases" % (ex.name, len(cases))], "ok")


def not_done(ex, path):
    return Verdict("not done", ["%s: not done yet, the function still raises NotImplementedError; write it in %s and "
                                "run this again (python course/check.py %s --hint 1 for a first hint)"
                                % (ex.name, shown(path), ex.name)], "not done")


# --------------------------------------------------------------------------------------------------
# the command

def listing():
    width = max(len(name) for name in EXERCISES) + 2
    print("%-*s%-26s%s" % (width, "exercise", "course/exercises/NAME.py", "what it is"))
    for name, ex in EXERCISES.items():
        verdict = check(ex, os.path.join(HERE, "exercises", name + ".py"))
        print("%-*s%-26s%s" % (width, name, verdict.short, ex.summary))
    print("Check one with: python course/check.py NAME   (--hint N for hint N, --solution for the answer)")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python course/check.py", description="Check a course exercise.")
    parser.add_argument("name", nargs="?", help="the exercise (leave out to list them all)")
    parser.add_argument("--file", help="your file defining the function (default: course/exercises/NAME.py)")
    parser.add_argument("--hint", type=int, metavar="N", help="show hint N (1 the gentlest, the last the key equation)")
    parser.add_argument("--solution", action="store_true", help="show the answer")
    args = parser.parse_args(argv)
    if args.name is None:
        return listing()
    ex = EXERCISES.get(args.name)
    if ex is None:
        print("check.py: no exercise %r; there are: %s" % (args.name, ", ".join(EXERCISES)), file=sys.stderr)
        return 2
    if args.hint is not None:
        if not 1 <= args.hint <= len(ex.hints):
            print("check.py: %s has hints 1 to %d" % (ex.name, len(ex.hints)), file=sys.stderr)
            return 2
        print("hint %d of %d for %s: %s" % (args.hint, len(ex.hints), ex.name, ex.hints[args.hint - 1]))
        return 0
    if args.solution:
        with open(os.path.join(HERE, "solutions", ex.name + ".py"), encoding="utf-8") as f:
            sys.stdout.write(f.read())
        return 0
    verdict = check(ex, args.file or os.path.join(HERE, "exercises", ex.name + ".py"))
    print("\n".join(verdict.lines))
    return 0 if verdict.status == "ok" else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
