"""Checkpoints: everything a run needs to continue or to sample, in one JSON file.

A checkpoint holds the model's configuration and weights, the vocabulary, the training configuration,
the optimizer's moments, the step, the random generator's state and the identity of the training data
(its path and SHA-256). It is plain JSON, never pickle: loading one runs no code, and a person can read
it. Python writes a float as the shortest text that reads back as the same float (repr), so weights
survive the round trip bit for bit; NaN and infinity are not JSON and are refused both ways.

A file is written atomically (files.write_atomic): to a temporary file in the same folder, fsynced, then renamed
over the old one (rename within a folder is atomic on POSIX and Windows), then the folder is fsynced so
the rename itself survives a power cut. A crash at any moment leaves either the old checkpoint or the
new one, never half of one; at worst a stray `.checkpoint.json.*.tmp` is left behind.

Loading trusts nothing: the file's size is bounded (SIZE_LIMIT) and so are its nesting and its whole
numbers' digits; every field is checked for its type and range, every weight matrix for its shape, and
the model's sizes against the matrices present before anything is built from them. Any problem is one
MicroGPTError line naming the file and the field.

Format, version 1 (keys in this order; the big arrays come last so `head -c 600` shows the rest):
  format "microgpt-checkpoint", version 1, step (optimizer steps taken),
  config (the training configuration, see train.TrainConfig), model (model.GPTConfig),
  vocab (the characters; BOS is token len(vocab)), then only with config.tokenizer bpe: merges (the
  BPE merges in order, [[a, b], ...]: token 256 + i is merges[i], BOS is 256 + len(merges); vocab is []),
  data {path, sha256, num_docs} (config.format lines) or {path, sha256, num_chars} (text),
  rng [version, 625 ints, gauss_next] (random.Random.getstate() as JSON),
  optimizer {name, t, m, v} (Adam's moments as flat lists in the order of `weights`; {name} for SGD),
  weights {name: {shape: [rows, cols], data: [rows*cols floats, row-major]}} in model.param_shapes order.
"""

import hashlib
import json
import math
import os
import random
import re
from dataclasses import asdict, dataclass, fields

from ..bpe import BPETokenizer
from ..config import TrainConfig
from ..data import Tokenizer, make_dataset
from ..errors import MicroGPTError
from ..model import GPT, GPTConfig, param_shapes
from ..optim import make_optimizer
from .files import json_text, not_written, reach, read_bytes, write_atomic

FORMAT = "microgpt-checkpoint"
VERSION = 1
RNG_WORDS = 625  # Mersenne Twister: 624 words of state + the position in them
# config fields added since version 1 was first written: an older checkpoint ran with their defaults, or
# with what OLDER says where that is not today's default (every run read its data as lines then)
LATER_FIELDS = ("workers", "schedule", "warmup", "device", "dtype", "tokenizer", "vocab_size", "format", "fast_math")
OLDER = {"format": "lines"}
# A checkpoint is read whole. Its size is ~66 bytes per parameter (weight, Adam's m and v, as ~22 characters
# of JSON each), so 256 MiB holds ~4 million parameters: more than the pure-Python engines train in days
# (n_embd 256 and 5 layers). json.loads takes ~4 times the file's size in memory while it reads.
SIZE_LIMIT = 256 << 20
INT_DIGITS = 100  # the longest whole number read as one (a long --seed's)
PLAIN_KEY = re.compile(r"[A-Za-z0-9_.]{1,30}\Z")  # a key shown as it is; any other is shown as JSON


@dataclass
class Checkpoint:
    step: int
    config: TrainConfig
    model: GPTConfig
    vocab: list
    data: dict
    rng_state: tuple  # ready for random.Random.setstate
    optimizer: dict
    params: list  # one flat list in model.GPT's layout
    merges: list = None  # a BPE tokenizer's [[a, b], ...], vocab then []; None for the char tokenizer


def vocabulary(tokenizer):
    """(vocab, merges), as a checkpoint keeps `tokenizer`: the char tokenizer's characters, or the merges
    of a BPE one."""
    if isinstance(tokenizer, BPETokenizer):
        return [], [list(pair) for pair in tokenizer.merges]
    return list(tokenizer.chars), None


def tokenizer_of(ck):
    """The tokenizer `ck` was trained with, as it was: its merges are never learnt again."""
    return Tokenizer(ck.vocab) if ck.merges is None else BPETokenizer(ck.merges)


# --------------------------------------------------------------------------------------------------
# writing

def to_json(ck):
    """The checkpoint as JSON text. Raises ValueError if any number is NaN or infinite."""
    weights, offset = {}, 0
    for name, rows, cols in param_shapes(ck.model):
        weights[name] = {"shape": [rows, cols], "data": ck.params[offset:offset + rows * cols]}
        offset += rows * cols
    version, words, gauss_next = ck.rng_state
    doc = {"format": FORMAT, "version": VERSION, "step": ck.step, "config": asdict(ck.config),
           "model": asdict(ck.model), "vocab": list(ck.vocab)}
    if ck.merges is not None:
        doc["merges"] = [list(pair) for pair in ck.merges]
    doc.update({"data": ck.data, "rng": [version, list(words), gauss_next], "optimizer": ck.optimizer,
                "weights": weights})
    return json_text(doc, allow_nan=False)


def save(path, ck, dir_fd=None):
    """Write `ck` to `path` (or, with dir_fd, an open folder, to path's last part in it: files.write_atomic)."""
    try:
        text = to_json(ck)
    except ValueError:
        raise MicroGPTError("refusing to save %s: the weights or optimizer state are not finite" % path)
    if len(text) > SIZE_LIMIT:  # cost.check_checkpoint refuses such models first: this only keeps the last good one
        raise MicroGPTError("refusing to save %s: %d bytes, more than load() would read back" % (path, len(text)))
    try:
        write_atomic(path, text, dir_fd)
    except OSError as e:
        raise MicroGPTError("cannot write %s: %s" % (path, not_written(e)))


# --------------------------------------------------------------------------------------------------
# reading: check everything, because the file may be truncated, edited, or not ours at all

def load(path):
    """The validated Checkpoint in `path`; any problem is a MicroGPTError naming the file."""
    reach(path, "checkpoint")
    if not os.path.lexists(path):
        raise MicroGPTError("no checkpoint at %s: train a model first (the train command), or name a run "
                            "directory or checkpoint file" % path)
    raw = read_bytes(path, "checkpoint file", SIZE_LIMIT)
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=reject_constant, parse_int=short_int)
    except (UnicodeDecodeError, ValueError) as e:
        raise MicroGPTError("%s is not a readable checkpoint: it is truncated or corrupted (%s)" % (path, e))
    except RecursionError:  # the parser recurses once per level; a checkpoint has four
        raise MicroGPTError("%s is not a MicroGPT checkpoint: its JSON nests deeper than Python can read" % path)
    try:
        return parse(doc)
    except MicroGPTError as e:
        raise MicroGPTError("%s: %s" % (path, e))


def reject_constant(name):
    raise ValueError("%s is not a number JSON allows" % name)


def short_int(text):
    # int() of n digits costs time quadratic in n before Python 3.11 (and is refused past 4300 since), float()
    # linear time: a longer number than any a checkpoint holds becomes a float, refused where a whole
    # number belongs, and read as inf (too large) where a weight does
    return int(text) if len(text) <= INT_DIGITS else float(text)


def shown(value, width=40):
    """`value` as JSON, cut to `width` characters: safe to put in a one-line message whatever it holds (JSON
    escapes line breaks, and ensure_ascii lone surrogates, which a terminal could not print)."""
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= width else text[:width - 3] + "..."


def parse(doc):
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise MicroGPTError("not a MicroGPT checkpoint (no \"format\": \"%s\")" % FORMAT)
    if doc.get("version") != VERSION or isinstance(doc.get("version"), bool):
        raise MicroGPTError("checkpoint version %s, but this MicroGPT reads version %d"
                            % (shown(doc.get("version")), VERSION))
    expect_keys(doc, ("format", "version", "step", "config", "model", "vocab", "data", "rng", "optimizer",
                      "weights") + ("merges",) * ("merges" in doc), "the checkpoint")
    step = whole(doc["step"], "step")
    config = parse_config(doc["config"])
    if step > config.steps:  # a run stops at its steps; a resume with more steps stores the new total
        raise MicroGPTError("step is %d, beyond the run's config.steps, %d" % (step, config.steps))
    model = parse_model(doc["model"])
    if model != config.model_config(model.vocab_size):
        raise MicroGPTError("the model (%s) does not match the config stored with it" % describe_model(model))
    vocab, merges = parse_tokenizer(doc, config, model.vocab_size)
    data = parse_data(doc["data"])
    rng_state = parse_rng(doc["rng"])
    params = parse_weights(doc["weights"], model)
    optimizer = parse_optimizer(doc["optimizer"], len(params))
    if optimizer["name"] != config.optimizer:
        raise MicroGPTError("optimizer.name is %s but config.optimizer is %s"
                            % (shown(optimizer["name"]), shown(config.optimizer)))
    if optimizer["name"] == "adam" and optimizer["t"] != step:
        raise MicroGPTError("Adam has taken %d steps but the checkpoint says %d" % (optimizer["t"], step))
    return Checkpoint(step, config, model, vocab, data, rng_state, optimizer, params, merges)


def describe_model(model):
    return "n_layer %d, n_embd %d, n_head %d, block_size %d" % (model.n_layer, model.n_embd, model.n_head,
                                                               model.block_size)


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
                              "unknown fields " + names_of(extra) if extra else "") if part)))


def names_of(keys, most=3):
    """A few of the file's own keys, escaped: they may hold anything, line breaks included."""
    listed = ", ".join(k if PLAIN_KEY.match(k) else shown(k, 30) for k in keys[:most])
    return listed + (" and %d more" % (len(keys) - most) if len(keys) > most else "")


def whole(value, what):
    """A non-negative int; JSON's true/false are not numbers here, though Python treats them as 1/0."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MicroGPTError("%s must be a whole number >= 0, got %s" % (what, shown(value)))
    return value


def floats(values, n, what):
    """A list of exactly n finite numbers, as floats."""
    if not isinstance(values, list) or len(values) != n:
        got = "%d values" % len(values) if isinstance(values, list) else type(values).__name__
        raise MicroGPTError("%s must be a list of %d numbers, got %s" % (what, n, got))
    for i, x in enumerate(values):
        if type(x) is not float and (type(x) is not int):  # rules out bool, str, null, lists
            raise MicroGPTError("%s[%d] is %s, not a number" % (what, i, shown(x)))
    try:
        out = [float(x) for x in values]
    except OverflowError:
        out = [math.inf]
    if not all(map(math.isfinite, out)):
        raise MicroGPTError("%s holds a number too large for a float" % what)
    return out


def parse_config(d):
    """The training configuration, checked field by field against TrainConfig's types and ranges."""
    names = [f.name for f in fields(TrainConfig)]
    expect_dict(d, "config")
    d = dict({name: OLDER.get(name, getattr(TrainConfig, name)) for name in LATER_FIELDS}, **d)
    expect_keys(d, names, "config")
    for name in names:
        value, kind = d[name], type(getattr(TrainConfig, name))
        ok = (isinstance(value, bool) if kind is bool else
              isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float else
              isinstance(value, kind) and not isinstance(value, bool))
        if not ok:
            kinds = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
            raise MicroGPTError("config.%s must be %s, got %s" % (name, kinds[kind], shown(value)))
        if kind is float and not math.isfinite(value):  # 1e999 is valid JSON, and reads as inf
            raise MicroGPTError("config.%s must be a finite number, got %s" % (name, shown(value)))
    config = TrainConfig(**d)
    try:
        return config.validate()
    except MicroGPTError as e:  # its messages start with the field's name
        raise MicroGPTError("config.%s" % e)


def parse_model(value):
    names = [f.name for f in fields(GPTConfig)]
    expect_keys(value, names, "model")
    for name in names:
        if name == "init_std":
            floats([value[name]], 1, "model.init_std")
        else:
            whole(value[name], "model." + name)
    return GPTConfig(**value).validate()


def parse_vocab(value, vocab_size, text=False):
    """The characters of a char vocabulary; a text's may hold "\n", the line break data.read_text leaves."""
    if not isinstance(value, list) or not all(isinstance(ch, str) and len(ch) == 1 for ch in value):
        raise MicroGPTError("vocab must be a list of single characters")
    for i, ch in enumerate(value):
        # a lone surrogate is half of a UTF-16 pair (printing one fails); a line break ends a document
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise MicroGPTError("vocab[%d] is %s, a lone UTF-16 surrogate, which no UTF-8 text holds" % (i, shown(ch)))
        if ch in "\r\n" and not (text and ch == "\n"):
            raise MicroGPTError("vocab[%d] is %s, a line break, which no %s holds"
                                % (i, shown(ch), "text read by MicroGPT" if text else "document"))
    if len(set(value)) != len(value):
        raise MicroGPTError("vocab has repeated characters")
    if len(value) + 1 != vocab_size:
        raise MicroGPTError("vocab has %d characters, so vocab_size should be %d, but the model says %d"
                            % (len(value), len(value) + 1, vocab_size))
    return value


def parse_tokenizer(doc, config, vocab_size):
    """(vocab, merges) of config.tokenizer: the characters and None (char; every checkpoint from before
    BPE), or [] and the merges (bpe)."""
    if config.tokenizer == "char":
        if "merges" in doc:
            raise MicroGPTError("merges are for a BPE tokenizer, but config.tokenizer is char")
        return parse_vocab(doc["vocab"], vocab_size, config.format == "text"), None
    if "merges" not in doc:
        raise MicroGPTError("config.tokenizer is bpe, but the checkpoint has no merges")
    if doc["vocab"] != []:
        raise MicroGPTError("vocab must be [] with a BPE tokenizer (its tokens are bytes and merges), got %s"
                            % shown(doc["vocab"]))
    if vocab_size > config.vocab_size:
        raise MicroGPTError("model.vocab_size is %d, more than config.vocab_size, %d" % (vocab_size, config.vocab_size))
    return [], parse_merges(doc["merges"], vocab_size)


def parse_merges(value, vocab_size):
    """The merges, each a pair of earlier tokens: [a, b] with a, b < 256 + its index."""
    if vocab_size < 257:
        raise MicroGPTError("model.vocab_size is %d, but a BPE tokenizer has 257 tokens or more (256 bytes and BOS)"
                            % vocab_size)
    if not isinstance(value, list):
        raise MicroGPTError("merges must be a list of [a, b] pairs, got %s" % shown(value))
    if len(value) + 257 != vocab_size:
        raise MicroGPTError("merges has %d pairs, so vocab_size should be %d (256 bytes, the merges and BOS), but "
                            "the model says %d" % (len(value), len(value) + 257, vocab_size))
    spelt = [1] * 256  # the bytes each token stands for, counted before any is made: a damaged list that
    total = 256        # merges a token with itself again and again would spell 2**n bytes
    for i, pair in enumerate(value):
        if not (isinstance(pair, list) and len(pair) == 2
                and all(type(t) is int and 0 <= t < 256 + i for t in pair)):
            raise MicroGPTError("merges[%d] is %s, not a pair of earlier tokens (each below %d)" % (i, shown(pair),
                                                                                                 256 + i))
        spelt.append(spelt[pair[0]] + spelt[pair[1]])
        total += spelt[-1]
        if total > SIZE_LIMIT:
            raise MicroGPTError("merges spell more than %d bytes in all, more than any text a checkpoint's "
                                "tokenizer could have been learnt from" % SIZE_LIMIT)
    try:
        BPETokenizer(value)
    except MicroGPTError as e:  # a repeated pair
        raise MicroGPTError("merges: %s" % e)
    return value


def parse_data(value):
    """The identity of the training data: {path, sha256, num_docs} (lines) or {path, sha256, num_chars}
    (text), as the dataset's info() wrote it."""
    count = "num_chars" if isinstance(value, dict) and "num_chars" in value else "num_docs"
    expect_keys(value, ("path", "sha256", count), "data")
    for name in ("path", "sha256"):
        if not isinstance(value[name], str):
            raise MicroGPTError("data.%s must be a string, got %s" % (name, shown(value[name])))
    whole(value[count], "data." + count)
    return value


def parse_rng(value):
    if not (isinstance(value, list) and len(value) == 3 and isinstance(value[1], list)
            and len(value[1]) == RNG_WORDS):
        raise MicroGPTError("rng must be [version, %d integers, gauss_next]" % RNG_WORDS)
    version, words, gauss_next = value
    whole(version, "rng version")
    for w in words:
        if not isinstance(w, int) or isinstance(w, bool) or not 0 <= w < 2 ** 32:
            raise MicroGPTError("rng state holds %s, not a 32-bit word" % shown(w))
    if gauss_next is not None:
        gauss_next = floats([gauss_next], 1, "rng gauss_next")[0]
    state = (version, tuple(words), gauss_next)
    try:
        random.Random().setstate(state)
    except (ValueError, TypeError) as e:
        raise MicroGPTError("rng state is not valid (%s)" % e)
    return state


def parse_weights(value, model):
    expect_dict(value, "weights")
    # counted before param_shapes lists them (a damaged n_layer of a billion would take minutes to list);
    # a layer's worth or less missing is named field by field below
    matrices = 3 + 6 * model.n_layer
    if matrices > len(value) + 6:
        raise MicroGPTError("weights has %d matrices, but model.n_layer %d needs %d (3 + 6 per layer)"
                            % (len(value), model.n_layer, matrices))
    shapes = param_shapes(model)
    expect_keys(value, [name for name, _, _ in shapes], "weights")
    params = []
    for name, rows, cols in shapes:
        w = value[name]
        expect_keys(w, ("shape", "data"), "weights." + name)
        if w["shape"] != [rows, cols]:
            raise MicroGPTError("weights.%s has shape %s, but the model config needs [%d, %d]"
                                % (name, shown(w["shape"]), rows, cols))
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
    raise MicroGPTError("optimizer.name must be \"adam\" or \"sgd\", got %s" % shown(name))


# --------------------------------------------------------------------------------------------------
# restoring: the one way back from a checkpoint to a model, an optimizer and a random stream

def restore(ck):
    """(model, optimizer, rng) exactly as they were when `ck` was saved."""
    model = GPT(ck.model, params=ck.params)
    cfg = ck.config
    optimizer = make_optimizer(cfg.optimizer, model.num_params, cfg.beta1, cfg.beta2, cfg.eps)
    optimizer.load_state(ck.optimizer)
    rng = random.Random()
    rng.setstate(ck.rng_state)
    return model, optimizer, rng


def training_data(ck, path=None):
    """The Dataset `ck` was trained on, rebuilt as it was: the same file (by SHA-256), shuffled with the
    same seed, split the same way. A MicroGPTError says why not when the file is gone or has changed."""
    path = path or ck.data.get("path")
    if not isinstance(path, str) or not os.path.isfile(path):
        raise MicroGPTError("the training data %s is not there" % path)
    raw = read_bytes(path)  # read once, then checked: the bytes hashed are the bytes trained on
    if hashlib.sha256(raw).hexdigest() != ck.data.get("sha256"):
        raise MicroGPTError("%s has changed since training" % path)
    # a run trained before a held-out share of no documents was refused goes on as it began: without one
    bpe = None if ck.merges is None else tokenizer_of(ck)  # the char tokenizer is made again, and compared
    cfg = ck.config
    dataset = make_dataset(raw, path, random.Random(cfg.seed), cfg.format, cfg.val_fraction, cfg.block_size,
                           need_held_out=False, tokenizer=bpe)
    if bpe is None and dataset.tokenizer.chars != ck.vocab:
        raise MicroGPTError("the vocabulary of %s does not match the checkpoint's" % path)
    return dataset
