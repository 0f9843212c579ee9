"""Checkpoints: everything a run needs to continue or to sample, in one JSON file.

A checkpoint holds the model's configuration and weights, the vocabulary, the training configuration,
the optimizer's moments, the step, the random generator's state and the identity of the training data
(its path and SHA-256). It is plain JSON, never pickle: loading one runs no code, and a person can read
it. Python writes a float as the shortest text that reads back as the same float (repr), so weights
survive the round trip bit for bit; NaN and infinity are not JSON and are refused both ways.

A file is written atomically (data.write_atomic): to a temporary file in the same folder, fsynced, then renamed
over the old one (rename within a folder is atomic on POSIX and Windows), then the folder is fsynced so
the rename itself survives a power cut. A crash at any moment leaves either the old checkpoint or the
new one, never half of one; at worst a stray `.checkpoint.json.*.tmp` is left behind.

Loading trusts nothing: every field is checked for its type and every weight matrix for its shape, and
any problem is one MicroGPTError line naming the file.

Format, version 1 (keys in this order; the big arrays come last so `head -c 600` shows the rest):
  format "microgpt-checkpoint", version 1, step (optimizer steps taken),
  config (the training configuration, see train.TrainConfig), model (model.GPTConfig),
  vocab (the characters; BOS is token len(vocab)), data {path, sha256, num_docs},
  rng [version, 625 ints, gauss_next] (random.Random.getstate() as JSON),
  optimizer {name, t, m, v} (Adam's moments as flat lists in the order of `weights`; {name} for SGD),
  weights {name: {shape: [rows, cols], data: [rows*cols floats, row-major]}} in model.param_shapes order.
"""

import json
import math
import os
import random
from dataclasses import asdict, dataclass, fields

from . import data
from .errors import MicroGPTError
from .model import GPTConfig, param_shapes

FORMAT = "microgpt-checkpoint"
VERSION = 1
RNG_WORDS = 625  # Mersenne Twister: 624 words of state + the position in them


@dataclass
class Checkpoint:
    step: int
    config: dict  # the training configuration as a plain dict; train.TrainConfig checks it
    model: GPTConfig
    vocab: list
    data: dict
    rng_state: tuple  # ready for random.Random.setstate
    optimizer: dict
    params: list  # one flat list in model.GPT's layout


# --------------------------------------------------------------------------------------------------
# writing

def to_json(ck):
    """The checkpoint as JSON text. Raises ValueError if any number is NaN or infinite."""
    weights, offset = {}, 0
    for name, rows, cols in param_shapes(ck.model):
        weights[name] = {"shape": [rows, cols], "data": ck.params[offset:offset + rows * cols]}
        offset += rows * cols
    version, words, gauss_next = ck.rng_state
    doc = {"format": FORMAT, "version": VERSION, "step": ck.step, "config": ck.config,
           "model": asdict(ck.model), "vocab": list(ck.vocab), "data": ck.data,
           "rng": [version, list(words), gauss_next], "optimizer": ck.optimizer, "weights": weights}
    return json.dumps(doc, ensure_ascii=False, allow_nan=False)


def save(path, ck):
    try:
        text = to_json(ck)
    except ValueError:
        raise MicroGPTError("refusing to save %s: the weights or optimizer state are not finite" % path)
    try:
        data.write_atomic(path, text)
    except OSError as e:
        raise MicroGPTError("cannot write %s: %s" % (path, e.strerror or e))


# --------------------------------------------------------------------------------------------------
# reading: check everything, because the file may be truncated, edited, or not ours at all

def load(path):
    """The validated Checkpoint in `path`; any problem is a MicroGPTError naming the file."""
    if not os.path.lexists(path):
        raise MicroGPTError("no checkpoint at %s" % path)
    raw = data.read_bytes(path, "checkpoint file")
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=reject_constant)
    except (UnicodeDecodeError, ValueError) as e:
        raise MicroGPTError("%s is not a readable checkpoint: it is truncated or corrupted (%s)" % (path, e))
    try:
        return parse(doc)
    except MicroGPTError as e:
        raise MicroGPTError("%s: %s" % (path, e))


def reject_constant(name):
    raise ValueError("%s is not a number JSON allows" % name)


def parse(doc):
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise MicroGPTError("not a MicroGPT checkpoint (no \"format\": \"%s\")" % FORMAT)
    if doc.get("version") != VERSION or isinstance(doc.get("version"), bool):
        raise MicroGPTError("checkpoint version %r, but this MicroGPT reads version %d"
                            % (doc.get("version"), VERSION))
    expect_keys(doc, ("format", "version", "step", "config", "model", "vocab", "data", "rng", "optimizer",
                      "weights"), "the checkpoint")
    step = whole(doc["step"], "step")
    config = expect_dict(doc["config"], "config")
    model = parse_model(doc["model"])
    vocab = parse_vocab(doc["vocab"], model.vocab_size)
    data = expect_dict(doc["data"], "data")
    rng_state = parse_rng(doc["rng"])
    params = parse_weights(doc["weights"], model)
    optimizer = parse_optimizer(doc["optimizer"], len(params))
    return Checkpoint(step, config, model, vocab, data, rng_state, optimizer, params)


def expect_dict(value, what):
    if not isinstance(value, dict):
        raise MicroGPTError("%s must be a JSON object" % what)
    return value


def expect_keys(value, keys, what):
    expect_dict(value, what)
    missing = [k for k in keys if k not in value]
    extra = [k for k in value if k not in keys]
    if missing or extra:
        raise MicroGPTError("%s has %s" % (what, " and ".join(
            part for part in ("missing fields " + ", ".join(missing) if missing else "",
                              "unknown fields " + ", ".join(extra) if extra else "") if part)))


def whole(value, what):
    """A non-negative int; JSON's true/false are not numbers here, though Python treats them as 1/0."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MicroGPTError("%s must be a whole number >= 0, got %s" % (what, json.dumps(value)[:40]))
    return value


def floats(values, n, what):
    """A list of exactly n finite numbers, as floats."""
    if not isinstance(values, list) or len(values) != n:
        got = "%d values" % len(values) if isinstance(values, list) else type(values).__name__
        raise MicroGPTError("%s must be a list of %d numbers, got %s" % (what, n, got))
    for i, x in enumerate(values):
        if type(x) is not float and (type(x) is not int):  # rules out bool, str, null, lists
            raise MicroGPTError("%s[%d] is %s, not a number" % (what, i, json.dumps(x)[:40]))
    try:
        out = [float(x) for x in values]
    except OverflowError:
        out = [math.inf]
    if not all(map(math.isfinite, out)):
        raise MicroGPTError("%s holds a number too large for a float" % what)
    return out


def parse_model(value):
    names = [f.name for f in fields(GPTConfig)]
    expect_keys(value, names, "model")
    for name in names:
        if name == "init_std":
            floats([value[name]], 1, "model.init_std")
        else:
            whole(value[name], "model." + name)
    return GPTConfig(**value).validate()


def parse_vocab(value, vocab_size):
    if not isinstance(value, list) or not all(isinstance(ch, str) and len(ch) == 1 for ch in value):
        raise MicroGPTError("vocab must be a list of single characters")
    if len(set(value)) != len(value):
        raise MicroGPTError("vocab has repeated characters")
    if len(value) + 1 != vocab_size:
        raise MicroGPTError("vocab has %d characters, so vocab_size should be %d, but the model says %d"
                            % (len(value), len(value) + 1, vocab_size))
    return value


def parse_rng(value):
    if not (isinstance(value, list) and len(value) == 3 and isinstance(value[1], list)
            and len(value[1]) == RNG_WORDS):
        raise MicroGPTError("rng must be [version, %d integers, gauss_next]" % RNG_WORDS)
    version, words, gauss_next = value
    whole(version, "rng version")
    for w in words:
        if not isinstance(w, int) or isinstance(w, bool) or not 0 <= w < 2 ** 32:
            raise MicroGPTError("rng state holds %s, not a 32-bit word" % json.dumps(w)[:40])
    if gauss_next is not None:
        gauss_next = floats([gauss_next], 1, "rng gauss_next")[0]
    state = (version, tuple(words), gauss_next)
    try:
        random.Random().setstate(state)
    except (ValueError, TypeError) as e:
        raise MicroGPTError("rng state is not valid (%s)" % e)
    return state


def parse_weights(value, model):
    shapes = param_shapes(model)
    expect_keys(value, [name for name, _, _ in shapes], "weights")
    params = []
    for name, rows, cols in shapes:
        w = value[name]
        expect_keys(w, ("shape", "data"), "weights." + name)
        if w["shape"] != [rows, cols]:
            raise MicroGPTError("weights.%s has shape %s, but the model config needs [%d, %d]"
                                % (name, json.dumps(w["shape"])[:40], rows, cols))
        params += floats(w["data"], rows * cols, "weights.%s.data" % name)
    return params


def parse_optimizer(value, n):
    expect_dict(value, "optimizer")
    name = value.get("name")
    if name == "sgd":
        expect_keys(value, ("name",), "optimizer")
        return {"name": "sgd"}
    if name == "adam":
        expect_keys(value, ("name", "t", "m", "v"), "optimizer")
        v = floats(value["v"], n, "optimizer.v")
        if min(v, default=0.0) < 0:  # a mean of squares; sqrt of a negative one would turn complex
            raise MicroGPTError("optimizer.v holds a negative value")
        return {"name": "adam", "t": whole(value["t"], "optimizer.t"),
                "m": floats(value["m"], n, "optimizer.m"), "v": v}
    raise MicroGPTError("optimizer.name must be \"adam\" or \"sgd\", got %s" % json.dumps(name)[:40])
