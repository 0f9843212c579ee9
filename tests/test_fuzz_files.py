"""Hostile files, fuzzed: a valid checkpoint and a valid data file mutated in many ways (fields deleted,
types changed, numbers at the edge of floating point, truncation, flipped bytes, deep nesting, huge lists,
lone surrogates) and handed to `sample --checkpoint`, `train --resume` and `train --data`.

Whatever the mutation, the command either works (exit 0: the mutation left a valid file) or fails as
docs/errors.md promises: exit 1 or 2, exactly one line on stderr, `microgpt: error: ...`, no traceback, the
user's file byte for byte as it was, and all of it within a time bound (a watchdog turns a hang into a
failure). The commands run in-process for speed; a FIFO and /dev/zero, which would hang or never end if
they were read, get a real process each.
"""

import contextlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unicodedata

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from microgpt.tool.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECONDS = 20  # per command: generous on a shared machine, yet far below "hung"
TINY = ["--steps", "2", "--n-embd", "8", "--n-head", "2", "--block-size", "8", "--num-samples", "0", "--quiet"]
DEEP = "@deep@"  # stands for nesting too deep for json.dumps itself to write


class Hung(Exception):
    pass


@contextlib.contextmanager
def watchdog(seconds):
    """Raise Hung in the main thread after `seconds` (where SIGALRM exists; elsewhere only timed after)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def ring(signum, frame):
        raise Hung("still running after %d s" % seconds)
    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run(argv):
    """(exit code, stderr) of the CLI run in this process."""
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    with watchdog(SECONDS), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    assert time.monotonic() - start < SECONDS
    return code, err.getvalue()


def assert_one_clean_line(code, err):
    assert code in (1, 2), (code, err)
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("microgpt: error: "), err


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A folder with a tiny data file (short made-up names, so no document is longer than the context) and
    a run trained on it for two steps; both are copied for each example, never changed."""
    folder = str(tmp_path_factory.mktemp("fuzz-base"))
    rng = random.Random(0)
    data = os.path.join(folder, "tiny.txt")
    with open(data, "w") as f:
        f.write("".join("".join(rng.choice("abcdefgh") for _ in range(rng.randint(1, 6))) + "\n" for _ in range(60)))
    run_dir = os.path.join(folder, "run")
    code, err = run(["train", "--data", data, "--out", run_dir] + TINY)
    assert code == 0, err
    with open(os.path.join(run_dir, "checkpoint.json"), "rb") as f:
        raw = f.read()
    return {"folder": folder, "data": data, "run": run_dir, "raw": raw, "doc": json.loads(raw.decode())}


# --------------------------------------------------------------------------------------------------
# mutations of a checkpoint

def paths_in(doc):
    """Every place worth changing: each field, each weight matrix and its parts, a few single numbers."""
    paths = [(k,) for k in doc]
    for section in ("config", "model", "data", "optimizer", "weights"):
        paths += [(section, k) for k in doc[section]]
    for name in doc["weights"]:
        paths += [("weights", name, "shape"), ("weights", name, "data"), ("weights", name, "data", 0),
                  ("weights", name, "shape", 0)]
    paths += [("rng", 0), ("rng", 1), ("rng", 2), ("rng", 1, 7), ("vocab", 0), ("vocab", 3),
              ("optimizer", "m", 5), ("optimizer", "v", 9)]
    return paths


EDGE_VALUES = [None, True, False, "", "x", "\ud800", [], {}, [1, 2], {"a": 1}, 0, -1, 1, 2, 7, 10 ** 12, 10 ** 30,
               10 ** 400, 0.5, -0.0, 1e-320, 5e-324, 1e300, -1e300, 1e308, float("nan"), float("inf"),
               float("-inf"), [0.0] * 100000, ["a"] * 5000, DEEP]


def change_at(doc, path, value):
    """doc with the value at `path` replaced (value is Ellipsis: deleted); returns False if there is none."""
    target = doc
    for key in path[:-1]:
        target = target[key]
    last = path[-1]
    if isinstance(target, list) and not (isinstance(last, int) and last < len(target)):
        return False
    if value is Ellipsis:
        del target[last]
    else:
        target[last] = value
    return True


def to_bytes(doc):
    text = json.dumps(doc)  # ensure_ascii: a lone surrogate is written as \ud800, as a hostile file would
    return text.replace(json.dumps(DEEP), "[" * 50000 + "]" * 50000).encode()


@st.composite
def mutated_checkpoints(draw, base):
    raw, doc = base["raw"], json.loads(base["raw"].decode())
    kind = draw(st.sampled_from(["value", "value", "value", "delete", "truncate", "flip", "splice", "whole"]))
    if kind in ("value", "delete"):
        paths = paths_in(doc)
        path = paths[draw(st.integers(0, len(paths) - 1))]
        value = Ellipsis if kind == "delete" else draw(st.sampled_from(EDGE_VALUES))
        change_at(doc, path, value)
        return to_bytes(doc)
    if kind == "truncate":
        return raw[:draw(st.integers(0, len(raw) - 1))]
    if kind == "flip":  # a few bytes anywhere set to anything
        out = bytearray(raw)
        for _ in range(draw(st.integers(1, 4))):
            out[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        return bytes(out)
    if kind == "splice":  # bytes a damaged copy could hold, put in anywhere
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.sampled_from([b"\x00", b"\xff\xfe", b"\\ud800", b"]]]", b"{", b"1e999",
                                                b"9" * 5000, b", NaN", b"\n"])) + raw[at:]
    return draw(st.sampled_from([b"", b"null", b"[]", b"{}", b"[" * 4000 + b"]" * 4000, b"{\"a\":" * 3000,
                                 b"\"" + b"a" * 100000 + b"\"", json.dumps([0] * 100000).encode()]))


def check_checkpoint(base, raw, command):
    folder = tempfile.mkdtemp(dir=base["folder"])
    try:
        run_dir = os.path.join(folder, "run")
        os.mkdir(run_dir)
        shutil.copy(os.path.join(base["run"], "config.json"), run_dir)
        path = os.path.join(run_dir, "checkpoint.json")
        with open(path, "wb") as f:
            f.write(raw)
        if command == "sample":
            argv = ["sample", "--checkpoint", path, "--num-samples", "2", "--seed", "1"]
        else:  # the reporting flags given again: only the checkpoint decides what happens
            argv = ["train", "--resume", run_dir, "--steps", "3", "--num-samples", "0", "--quiet"]
        code, err = run(argv)
        if code == 0:
            return code  # still a valid checkpoint (a weight changed, say): it sampled, or trained on
        assert_one_clean_line(code, err)
        with open(path, "rb") as f:
            assert f.read() == raw  # refused, and left exactly as it was
        return code
    finally:
        shutil.rmtree(folder)


@settings(max_examples=70)
@given(data=st.data())
def test_sample_a_mutated_checkpoint(base, data):
    code = check_checkpoint(base, data.draw(mutated_checkpoints(base)), "sample")
    event("exit %d" % code)  # --hypothesis-show-statistics: how many mutations were still valid


@settings(max_examples=50)
@given(data=st.data())
def test_resume_from_a_mutated_checkpoint(base, data):
    event("exit %d" % check_checkpoint(base, data.draw(mutated_checkpoints(base)), "resume"))


@pytest.mark.parametrize("command", ["sample", "resume"])
@pytest.mark.parametrize("where, value", [
    (("vocab", 2), "\ud800"), (("model", "n_layer"), 10 ** 9), (("config", "batch_size"), 10 ** 12),
    (("config", "steps"), 10 ** 12), (("weights", "lm_head", "data"), [1.0] * 10 ** 5), ((), DEEP)])
def test_the_mutations_the_issue_found(base, command, where, value):
    """The cases a fuzzer found, each pinned: a mutation hypothesis may not happen to draw."""
    doc = json.loads(base["raw"].decode())
    if where:
        change_at(doc, where, value)
        raw = to_bytes(doc)
    else:
        raw = to_bytes(DEEP)
    assert check_checkpoint(base, raw, command) == 1


def test_huge_finite_weights_sample_into_one_line(base):
    doc = json.loads(base["raw"].decode())
    for name in ("lm_head", "layer0.attn_wv"):  # each finite; their product in the forward pass is not
        doc["weights"][name]["data"] = [x * 1e300 for x in doc["weights"][name]["data"]]
    raw = to_bytes(doc)
    folder = tempfile.mkdtemp(dir=base["folder"])
    path = os.path.join(folder, "checkpoint.json")
    with open(path, "wb") as f:
        f.write(raw)
    code, err = run(["sample", "--checkpoint", path, "--num-samples", "2"])
    assert_one_clean_line(code, err)
    assert "not finite numbers: its weights are too large" in err and "smaller --lr" in err


# --------------------------------------------------------------------------------------------------
# mutations of a data file

@st.composite
def mutated_data(draw, base):
    with open(base["data"], "rb") as f:
        raw = f.read()
    kind = draw(st.sampled_from(["splice", "splice", "truncate", "replace", "whole", "endings"]))
    if kind == "splice":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.sampled_from([b"\x00", b"\xff", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\r", b"\r\n",
                                                b"\xc3", b"x" * 100000, "é李😀".encode(), b"\t \x0b\x0c"])) + raw[at:]
    if kind == "truncate":
        return raw[:draw(st.integers(0, len(raw)))]
    if kind == "replace":
        return draw(st.binary(max_size=200))
    if kind == "endings":  # CR-only and mixed endings are lines too
        return raw.replace(b"\n", draw(st.sampled_from([b"\r", b"\r\n", b"\n\r", b"\r\r"])))
    return draw(st.sampled_from([b"", b"\n\n\n", b" \t\r\n \r", b"\xef\xbb\xbf", b"a\nb\nc\nd\ne\n", b"only\n",
                                 b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"]))


@settings(max_examples=50)
@given(data=st.data())
def test_train_on_a_mutated_data_file(base, data):
    raw = data.draw(mutated_data(base))
    folder = tempfile.mkdtemp(dir=base["folder"])
    try:
        path = os.path.join(folder, "data.txt")
        with open(path, "wb") as f:
            f.write(raw)
        code, err = run(["train", "--data", path, "--out", os.path.join(folder, "run"), "--steps", "1"] + TINY[2:])
        event("exit %d" % code)
        if code != 0:
            assert_one_clean_line(code, err)
            assert not os.path.exists(os.path.join(folder, "run"))  # no half-made run directory
        else:
            assert "\r" not in json.load(open(os.path.join(folder, "run", "checkpoint.json")))["vocab"]
        with open(path, "rb") as f:
            assert f.read() == raw
    finally:
        shutil.rmtree(folder)


def test_too_few_documents_for_the_held_out_share(base):
    folder = tempfile.mkdtemp(dir=base["folder"])
    path = os.path.join(folder, "five.txt")
    with open(path, "w") as f:
        f.write("ann\nbob\ncid\ndee\neve\n")
    code, err = run(["train", "--data", path, "--out", os.path.join(folder, "run")] + TINY)
    assert_one_clean_line(code, err)
    assert code == 1 and "five.txt has 5 documents: --val-fraction 0.1 holds out none of them (that takes 10" in err
    code, err = run(["train", "--data", path, "--out", os.path.join(folder, "run"), "--val-fraction", "0"] + TINY)
    assert code == 0, err


# --------------------------------------------------------------------------------------------------
# files that are not files: a real process each, under a timeout

def special_files(folder):
    fifo = os.path.join(folder, "fifo")
    if hasattr(os, "mkfifo"):
        os.mkfifo(fifo)
        yield fifo, "is a named pipe (FIFO), not a"
    if os.path.exists("/dev/zero"):
        yield "/dev/zero", "is a character device, not a"


@pytest.mark.parametrize("command", ["data", "checkpoint"])
def test_a_fifo_or_dev_zero_is_refused_without_reading_it(tmp_path, command):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cases = list(special_files(str(tmp_path)))
    if not cases:
        pytest.skip("no FIFOs or /dev/zero here")
    for path, message in cases:
        argv = ["--data", path] + TINY if command == "data" else ["sample", "--checkpoint", path]
        proc = subprocess.run([sys.executable, "-m", "microgpt"] + argv, cwd=str(tmp_path), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        err = proc.stderr.decode()
        assert proc.returncode == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert message in err and path in err


def test_a_checkpoint_asking_for_more_workers_than_this_machine_can_run_resumes_on_its_cores(base):
    # a fuzzer's find: 1000 workers from the file started 1000 processes; the count changes no number
    from microgpt.speed.workers import usable_cores
    doc = json.loads(base["raw"].decode())
    doc["config"]["workers"] = 1000
    folder = tempfile.mkdtemp(dir=base["folder"])
    run_dir = os.path.join(folder, "run")
    os.mkdir(run_dir)
    shutil.copy(os.path.join(base["run"], "config.json"), run_dir)
    with open(os.path.join(run_dir, "checkpoint.json"), "wb") as f:
        f.write(to_bytes(doc))
    code, err = run(["train", "--resume", run_dir, "--steps", "3", "--num-samples", "0", "--quiet"])
    assert code == 0, err
    with open(os.path.join(run_dir, "checkpoint.json"), encoding="utf-8") as f:
        assert json.load(f)["config"]["workers"] == usable_cores()


# --------------------------------------------------------------------------------------------------
# control characters in the data: shown as escapes, never obeyed by the terminal

# escape sequences (clear the screen, retitle the window, colour), BEL, backspace, DEL, C1 controls (CSI,
# OSC, NEL), bidirectional overrides, isolates and marks, the line separator, vertical tab and form feed
CONTROLS = ["\x1b[2J", "\x1b]0;pwned\x07", "\x1b[31m", "\x1b", "\x07", "\x08", "\x7f", "\x85", "\x9b", "\x9d",
            "\u202e", "\u2066", "\u200f", "\u2028", "\x0b", "\x0c", "\t"]
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def raw_controls(text):
    """What a terminal would obey in `text`, besides the newline that ends a line and a tab."""
    return sorted({c for c in text if c not in "\n\t" and (unicodedata.category(c) in ("Cc", "Zl", "Zp")
                                                           or c in BIDI)})


def run_both(argv):
    """(exit code, stdout, stderr) of the CLI run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with watchdog(SECONDS), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


pieces = st.sampled_from(CONTROLS + list("abcdeé李 "))
documents = st.lists(pieces, min_size=1, max_size=6).map("".join)


@settings(max_examples=20)
@given(docs=st.lists(documents, min_size=12, max_size=30), prompt=st.lists(pieces, max_size=3).map("".join))
def test_control_characters_in_the_data_never_reach_the_terminal_raw(base, docs, prompt):
    folder = tempfile.mkdtemp(dir=base["folder"])
    try:
        path = os.path.join(folder, "data.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(docs) + "\n")
        run_dir = os.path.join(folder, "run")
        code, out, err = run_both(["train", "--data", path, "--out", run_dir, "--steps", "2", "--n-embd", "8",
                                   "--n-head", "2", "--block-size", "8", "--num-samples", "5", "--temperature", "2"])
        assert raw_controls(out + err) == [], (out, err)
        if code != 0:  # documents all blank once stripped, say: one clean line
            event("train refused")
            assert_one_clean_line(code, err)
            return
        # the prompt's characters may be outside the vocabulary, or a prompt too long for the context
        code, out, err = run_both(["sample", "--run", run_dir, "--num-samples", "5", "--temperature", "2",
                                   "--prompt", prompt])
        assert raw_controls(out + err) == [], (out, err)
        event("sample exit %d" % code)
        if code != 0:
            assert_one_clean_line(code, err)
        else:
            assert len([line for line in out.splitlines() if line.startswith("sample ")]) == 5
    finally:
        shutil.rmtree(folder)
