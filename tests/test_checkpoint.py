"""Checkpoints: an exact JSON round trip, atomic writes (even under kill -9), and loading that rejects
every kind of bad file with one clear line."""

import json
import math
import os
import random
import signal
import struct
import subprocess
import sys

import pytest

from microgpt.config import TrainConfig
from microgpt.errors import MicroGPTError
from microgpt.model import GPT, GPTConfig
from microgpt.optim import Adam
from microgpt.tool import checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# floats whose text form is easy to get wrong: subnormals, -0.0, the extremes, 0.1's binary expansion
AWKWARD = [0.1, -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348618157e308, 1 / 3, -2.5e-17, 1e22]


def bits(xs):
    return [struct.pack("<d", x) for x in xs]


def make_checkpoint(n_layer=1, n_embd=8, n_head=2, block_size=4, seed=0):
    cfg = GPTConfig(vocab_size=5, n_layer=n_layer, n_embd=n_embd, n_head=n_head, block_size=block_size)
    rng = random.Random(seed)
    model = GPT(cfg, rng)
    model.params[:len(AWKWARD)] = AWKWARD
    rng.gauss(0, 1)  # leave a cached gauss_next in the state, the part of it that is easy to forget
    adam = Adam(model.num_params)
    adam.step(model.params, [rng.uniform(-1, 1) for _ in model.params], 0.01)
    config = TrainConfig(n_layer=n_layer, n_embd=n_embd, n_head=n_head, block_size=block_size, seed=seed)
    return checkpoint.Checkpoint(1, config, cfg, list("abcd"),
                                 {"path": "x.txt", "sha256": "0" * 64, "num_docs": 3}, rng.getstate(),
                                 dict(adam.state(), name="adam"), model.params)


def test_round_trip_is_exact_to_the_bit(tmp_path):
    ck = make_checkpoint()
    path = str(tmp_path / "ck.json")
    checkpoint.save(path, ck)
    back = checkpoint.load(path)
    assert bits(back.params) == bits(ck.params)
    assert bits(back.optimizer["m"]) == bits(ck.optimizer["m"])
    assert bits(back.optimizer["v"]) == bits(ck.optimizer["v"])
    assert back.optimizer["t"] == 1 and back.step == 1
    assert back.rng_state == ck.rng_state and back.rng_state[2] is not None
    a, b = random.Random(), random.Random()
    a.setstate(ck.rng_state)
    b.setstate(back.rng_state)
    assert [a.gauss(0, 1) for _ in range(5)] == [b.gauss(0, 1) for _ in range(5)]
    assert back.model == ck.model and back.vocab == ck.vocab and back.data == ck.data
    # and the file says what it is before its big arrays
    with open(path) as f:
        head = f.read(60)
    assert head.startswith('{"format": "microgpt-checkpoint", "version": 1')


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_and_the_old_file_kept(tmp_path, bad):
    path = str(tmp_path / "ck.json")
    good = make_checkpoint()
    checkpoint.save(path, good)
    before = open(path, "rb").read()
    broken = make_checkpoint()
    broken.params[3] = bad
    with pytest.raises(MicroGPTError, match="not finite"):
        checkpoint.save(path, broken)
    assert open(path, "rb").read() == before
    assert os.listdir(str(tmp_path)) == ["ck.json"]


def test_a_crash_between_write_and_rename_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = str(tmp_path / "ck.json")
    checkpoint.save(path, make_checkpoint(seed=1))

    def crash(src, dst):
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(checkpoint.os, "replace", crash)
    with pytest.raises(MicroGPTError, match="cannot write"):
        checkpoint.save(path, make_checkpoint(seed=2))
    monkeypatch.undo()
    assert bits(checkpoint.load(path).params) == bits(make_checkpoint(seed=1).params)
    assert os.listdir(str(tmp_path)) == ["ck.json"]  # the temporary file was cleaned up


KILL_DURING_SAVE = r"""
import os, signal, sys
sys.path.insert(0, sys.argv[1])
from microgpt.tool import checkpoint
from microgpt.config import TrainConfig
from tests.test_checkpoint import make_checkpoint
path = sys.argv[2]
checkpoint.save(path, make_checkpoint(seed=1))
real_fsync = os.fsync
def fsync_then_die(fd):  # the new bytes are written and synced, but not yet renamed into place
    real_fsync(fd)
    os.kill(os.getpid(), signal.SIGKILL)
checkpoint.os.fsync = fsync_then_die
checkpoint.save(path, make_checkpoint(seed=2))
print("not reached")
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_kill_9_in_the_middle_of_a_save_leaves_the_previous_checkpoint_loadable(tmp_path):
    path = str(tmp_path / "ck.json")
    proc = subprocess.run([sys.executable, "-c", KILL_DURING_SAVE, ROOT, path], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert b"not reached" not in proc.stdout
    assert bits(checkpoint.load(path).params) == bits(make_checkpoint(seed=1).params)
    leftovers = [n for n in os.listdir(str(tmp_path)) if n != "ck.json"]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")  # the unfinished new one, never renamed


# --------------------------------------------------------------------------------------------------
# bad files: each is one MicroGPTError line that names the file

def saved_doc(tmp_path):
    path = str(tmp_path / "ck.json")
    checkpoint.save(path, make_checkpoint())
    with open(path) as f:
        return path, json.load(f)


def edit(doc, change):
    doc = json.loads(json.dumps(doc))
    change(doc)
    return doc


def set_in(keys, value):
    def change(doc):
        for k in keys[:-1]:
            doc = doc[k]
        doc[keys[-1]] = value
    return change


BAD_EDITS = {
    "foreign JSON": (lambda d: d.clear() or d.update({"hello": "world"}), "not a MicroGPT checkpoint"),
    "wrong version": (set_in(["version"], 2), "version 2"),
    "version as text": (set_in(["version"], "1"), 'version "1"'),
    "missing field": (lambda d: d.pop("rng"), "missing fields rng"),
    "unknown field": (set_in(["extra"], 1), "unknown fields extra"),
    "step as text": (set_in(["step"], "1"), "step must be a whole number"),
    "step as bool": (set_in(["step"], True), "step must be a whole number"),
    "weight as text": (set_in(["weights", "wte", "data", 0], "0.5"), r"weights.wte.data\[0\] is \"0.5\""),
    "weight as bool": (set_in(["weights", "wte", "data", 1], False), r"weights.wte.data\[1\] is false"),
    "weight as null": (set_in(["weights", "wpe", "data", 2], None), r"weights.wpe.data\[2\] is null"),
    "weight overflow": (set_in(["weights", "wpe", "data", 2], 10 ** 400), "too large"),
    "other shape": (set_in(["weights", "wte", "shape"], [5, 9]), r"has shape \[5, 9\].*needs \[5, 8\]"),
    "short data": (lambda d: d["weights"]["lm_head"]["data"].pop(), "must be a list of 40 numbers, got 39"),
    "other model size": (set_in(["model", "n_embd"], 16), r"the model \(n_layer 1, n_embd 16, .*does not match"),
    "missing weight": (lambda d: d["weights"].pop("layer0.mlp_fc2"), "missing fields layer0.mlp_fc2"),
    "vocab mismatch": (set_in(["vocab"], list("abc")), "vocab has 3 characters"),
    "vocab repeats": (set_in(["vocab"], list("abca")), "repeated"),
    "bad model config": (set_in(["model", "n_head"], 3), "divisible"),
    "short moments": (lambda d: d["optimizer"]["m"].pop(), "optimizer.m must be a list"),
    "negative v": (set_in(["optimizer", "v", 0], -1.0), "negative"),
    "unknown optimizer": (set_in(["optimizer", "name"], "lion"), "adam"),
    "rng word too big": (set_in(["rng", 1, 0], 2 ** 32), "32-bit"),
    "rng short": (lambda d: d["rng"][1].pop(), "rng must be"),
}


def refusal(tmp_path, change, message):
    """(path, message) of loading a saved checkpoint edited by `change`, which must fail with `message`."""
    path, doc = saved_doc(tmp_path)
    with open(path, "w") as f:
        json.dump(edit(doc, change), f)
    with pytest.raises(MicroGPTError, match=message) as e:
        checkpoint.load(path)
    return path, str(e.value)


@pytest.mark.parametrize("name", sorted(BAD_EDITS))
def test_edited_or_foreign_checkpoints_are_one_clear_error(tmp_path, name):
    path, text = refusal(tmp_path, *BAD_EDITS[name])
    assert text.startswith(path) and "\n" not in text


@pytest.mark.parametrize("damage", ["truncated", "garbage", "not utf-8", "NaN", "empty", "JSON list"])
def test_damaged_files_are_one_clear_error(tmp_path, damage):
    path, doc = saved_doc(tmp_path)
    raw = open(path, "rb").read()
    broken = {"truncated": raw[:len(raw) // 2], "garbage": b"\x00\x01PK\x03\x04" + raw[:100],
              "not utf-8": raw[:50] + b"\xff\xfe" + raw[52:], "empty": b"",
              "NaN": raw.replace(b'"data": [', b'"data": [NaN, ', 1), "JSON list": b"[1, 2, 3]"}[damage]
    with open(path, "wb") as f:
        f.write(broken)
    with pytest.raises(MicroGPTError) as e:
        checkpoint.load(path)
    assert path in str(e.value) and "\n" not in str(e.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(MicroGPTError, match="no checkpoint at"):
        checkpoint.load(str(tmp_path / "nope.json"))
    with pytest.raises(MicroGPTError, match="is a directory"):
        checkpoint.load(str(tmp_path))


# --------------------------------------------------------------------------------------------------
# hostile files: each refused at once, before anything is built from what they claim

HOSTILE_EDITS = {
    "lone surrogate in vocab": (set_in(["vocab", 1], "\ud800"), r'vocab\[1\] is "\\ud800", a lone UTF-16 surrogate'),
    "line break in vocab": (set_in(["vocab", 0], "\r"), r'vocab\[0\] is "\\r", a line break'),
    "huge n_layer": (lambda d: (d["model"].update(n_layer=10 ** 9), d["config"].update(n_layer=10 ** 9)),
                     r"weights has 9 matrices, but model.n_layer 1000000000 needs 6000000003"),
    "huge n_embd": (lambda d: (d["model"].update(n_embd=10 ** 8), d["config"].update(n_embd=10 ** 8)),
                    r"weights.wte has shape \[5, 8\], but the model config needs \[5, 100000000\]"),
    "huge block_size": (lambda d: (d["model"].update(block_size=10 ** 9), d["config"].update(block_size=10 ** 9)),
                        r"weights.wpe has shape \[4, 8\], but the model config needs \[1000000000, 8\]"),
    "huge batch_size": (set_in(["config", "batch_size"], 10 ** 12), r"config.batch_size must be at most 65536, got "
                        r"1000000000000"),
    "huge steps": (set_in(["config", "steps"], 10 ** 15), "config.steps must be at most 1000000000, got"),
    "huge workers": (set_in(["config", "workers"], 10 ** 6), "config.workers must be at most 1024, got 1000000"),
    "step past steps": (lambda d: (d.update(step=5000), d["optimizer"].update(t=5000)),
                        "step is 5000, beyond the run's config.steps, 1000"),
    "config out of range": (set_in(["config", "steps"], 0), "config.steps must be at least 1, got 0"),
    "config inf": (set_in(["config", "eps"], 10 ** 400), "config.eps must be a finite number, got Infinity"),
    "model differs from config": (set_in(["model", "n_layer"], 2), r"the model \(n_layer 2, .*does not match"),
    "long seed": (set_in(["config", "seed"], 10 ** 200), "config.seed must be a whole number, got 1e"),
    "data path": (set_in(["data", "path"], ["a"]), r'data.path must be a string, got \["a"\]'),
    "data missing": (lambda d: d["data"].pop("sha256"), "data has missing fields sha256"),
    "data count": (set_in(["data", "num_docs"], -3), "data.num_docs must be a whole number >= 0, got -3"),
    "field name with a line break": (set_in(["model", "x\ny"], 1), r'model has unknown fields "x\\ny"'),
    "many unknown fields": (lambda d: d["model"].update({"k%d" % i: i for i in range(50)}),
                            "unknown fields k0, k1, k2 and 47 more"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_EDITS))
def test_hostile_checkpoints_are_one_short_line(tmp_path, name):
    path, text = refusal(tmp_path, *HOSTILE_EDITS[name])
    assert text.startswith(path + ": ") and "\n" not in text and len(text) < 300 + len(path)
    text.encode("ascii")  # whatever the file held, the message prints on any terminal


def test_deep_nesting_is_one_line(tmp_path):
    path = str(tmp_path / "ck.json")
    with open(path, "w") as f:
        f.write("[" * 100000 + "]" * 100000)
    with pytest.raises(MicroGPTError) as e:
        checkpoint.load(path)
    assert str(e.value) == "%s is not a MicroGPT checkpoint: its JSON nests deeper than Python can read" % path


def test_a_checkpoint_beyond_the_size_limit(tmp_path, monkeypatch):
    path, _ = saved_doc(tmp_path)
    monkeypatch.setattr(checkpoint, "SIZE_LIMIT", 1 << 10)
    with pytest.raises(MicroGPTError) as e:
        checkpoint.load(path)
    assert str(e.value).startswith(path + " is ") and "more than the 1 KiB a checkpoint file may be" in str(e.value)


def test_the_limits_fit_the_largest_models_the_engines_train():
    # ~66 bytes of JSON per parameter: 4 million of them (n_embd 256, 5 layers) fit
    cfg = GPTConfig(vocab_size=100, n_layer=5, n_embd=256, n_head=4, block_size=256)
    params = sum(rows * cols for _, rows, cols in checkpoint.param_shapes(cfg))
    assert 3.5e6 < params and params * 66 < checkpoint.SIZE_LIMIT
