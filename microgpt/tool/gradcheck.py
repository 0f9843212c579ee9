"""gradcheck: every engine's gradient of every weight matrix against central finite differences.

A gradient is a claim about the loss: nudge weight i by h and the loss moves by about h * dL/dw_i. Central
differences test the claim with nothing but the forward pass,

    dL/dw_i ~ (L(w + h e_i) - L(w - h e_i)) / 2h,   error O(h^2) from the curvature,

so they check a backward pass written by hand (the fast engine's), one found by the chain rule through
Values (the scalar engine's) or by torch.autograd, all the same way. It is what to run after changing the
model (docs/change-the-model.md).

The model has the given size and its initial weights; the batch is a few random documents in which every
token appears and one fills the context, so that every row of wte, wpe and lm_head has a gradient. The
differences are taken of the fast engine's loss, which is the scalar engine's to the bit (the loss row
shows it), on a random sample of each matrix's entries (all of them with --entries 0).

The error of an entry is |g - d| / max(|g|, |d|, FLOOR) for an engine's gradient g and the difference d:
relative, and absolute below FLOOR. In float64 with h = 1e-5 the difference is off by about 1e-10 (the
loss's rounding, 1e-16 * |L| / h, and the curvature's h^2 term), so a right gradient shows ~1e-7 at most;
TOLERANCE = 1e-5 leaves a margin of 100 and still catches a gradient off by a thousandth of a percent.
ReLU has a kink at 0: a difference across it measures the mean of two slopes. An entry above the
tolerance is measured again with h / 10, where a kink is 10 times less likely and a wrong gradient is as
wrong as before; the smaller error counts.
"""

import random
import sys

from ..errors import MicroGPTError
from ..model import GPT
from ..scalar_engine import loss_and_grad as scalar_loss_and_grad
from ..speed import engine, loops
from . import cost

H = 1e-5  # the step of the central differences
TOLERANCE = 1e-5  # the largest error allowed: relative, absolute for gradients below FLOOR
FLOOR = 1e-3


def tiny_batch(config, rng):
    """Documents of the vocabulary's tokens, shuffled, each token once: block_size - 1 per document, so a
    document fills the context (every position) and each token is read as an input somewhere."""
    bos = config.vocab_size - 1
    tokens = list(range(bos))
    rng.shuffle(tokens)
    n = config.block_size - 1
    return [[bos] + tokens[i:i + n] + [bos] for i in range(0, len(tokens), n)]


def fast_engine(math):
    """The fast engine's loss_and_grad with the forward/backward pairs of `math` (loops or kernels)."""
    def loss_and_grad(model, batch):
        ops = engine.FastOps(model, math=math)
        loss = model.loss(ops, batch)
        return loss.data[0], ops.backward(loss)
    return loss_and_grad


def engines():
    """(name, loss_and_grad) of each engine here, the scalar one (the definition) first. On CPython the
    fast engine runs the generated kernels: the plain loops a learner edits are checked too, as fast-loops.
    torch, in float64, if it is installed."""
    found = [("scalar", scalar_loss_and_grad), ("fast", fast_engine(engine.default_math()))]
    if engine.default_math() is not loops:
        found.append(("fast-loops", fast_engine(loops)))
    from ..speed import torch_engine
    if torch_engine.torch is not None:
        found.append(("torch", torch_engine.loss_and_grad))
    return found


def relative(a, b):
    return abs(a - b) / max(abs(a), abs(b), FLOOR)


def central_difference(loss_only, model, batch, i, h):
    # (L(w_i + h) - L(w_i - h)) / 2h, the weight put back as it was
    w = model.params[i]
    model.params[i] = w + h
    up = loss_only(model, batch)
    model.params[i] = w - h
    down = loss_only(model, batch)
    model.params[i] = w
    return (up - down) / (2 * h)


def check(model, batch, engines, entries, rng, loss_only=engine.loss_only):
    """Rows (label, entries checked, entries, {engine: largest error}): first the loss, each engine's
    against the first engine's; then every matrix of model.layout, each gradient against central
    differences of loss_only, on `entries` entries drawn by rng (0: all)."""
    results = {name: loss_and_grad(model, batch) for name, loss_and_grad in engines}
    reference = results[engines[0][0]][0]
    rows = [("loss", 1, 1, {name: relative(loss, reference) for name, (loss, _) in results.items()})]
    for label, (offset, r, c) in model.layout.items():
        picked = sorted(rng.sample(range(r * c), entries)) if 0 < entries < r * c else range(r * c)
        worst = dict.fromkeys(results, 0.0)
        for i in picked:
            i += offset
            d = central_difference(loss_only, model, batch, i, H)
            closer = None
            for name, (_, grad) in results.items():
                error = relative(grad[i], d)
                if not error <= TOLERANCE:  # a kink within h, or a wrong gradient: look again, closer
                    closer = central_difference(loss_only, model, batch, i, H / 10) if closer is None else closer
                    error = min(error, relative(grad[i], closer))
                worst[name] = max(worst[name], error, key=lambda e: (e != e, e))  # NaN is the largest
        rows.append((label, len(picked), r * c, worst))
    return rows


def table(rows, names, say):
    say("%-16s %11s" % ("", "entries") + "".join(" %10s" % name for name in names))
    for label, checked, total, worst in rows:
        entries = "%d" % total if checked == total else "%d of %d" % (checked, total)
        say("%-16s %11s" % (label, entries) + "".join(" %10.1e" % worst[name] for name in names))


def failures(rows):
    """(label, engine, error) above the tolerance, in the table's order."""
    return [(label, name, error) for label, _, _, worst in rows for name, error in worst.items()
            if not error <= TOLERANCE]


def run(config, seed=42, entries=10, out=None):
    """The gradcheck command: the table on `out`, then 0, or MicroGPTError naming what is off."""
    out = out or sys.stdout

    def say(line=""):
        print(line, file=out, flush=True)
    cost.check_model(config, "checking gradients")
    rng = random.Random(seed)
    model = GPT(config, rng)
    batch = tiny_batch(config, rng)
    found = engines()
    names = [name for name, _ in found]
    say("gradcheck: vocab_size=%d n_layer=%d n_embd=%d n_head=%d block_size=%d, %d parameters, seed %d"
        % (config.vocab_size, config.n_layer, config.n_embd, config.n_head, config.block_size, model.num_params,
           seed))
    say("batch: %d random documents, %d positions; engines: %s%s" % (
        len(batch), sum(config.predictions(d) for d in batch), ", ".join(names),
        "" if "torch" in names else " (torch is not installed)"))
    say("largest error against central differences (h = %g), relative (absolute below %g); the loss row: "
        "against the scalar engine's" % (H, FLOOR))
    rows = check(model, batch, found, entries, rng)
    table(rows, names, say)
    bad = failures(rows)
    if bad:
        label, name, error = bad[0]
        what = ("the %s engine's loss is %.1e from the scalar engine's" % (name, error) if label == "loss" else
                "the %s engine's gradient of %s is %.1e from central differences" % (name, label, error))
        more = " (and %d more)" % (len(bad) - 1) if len(bad) > 1 else ""
        raise MicroGPTError("gradcheck: %s, above the tolerance %g%s" % (what, TOLERANCE, more))
    say("ok: every engine's loss and gradients are within %g" % TOLERANCE)
    return 0
