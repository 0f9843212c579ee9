"""A flag fuzzer: every flag of every command given edge values (0, -1, huge, NaN, inf, 1e-320, empty,
non-ASCII, NUL, very long), in-process through cli.main, on a tiny data file and a tiny trained run.

Whatever the values: an exit code of 0, 1 or 2; on failure exactly one line on stderr (besides
warnings), starting with the program's name; never a traceback; nothing changed outside the
temporary folder; no worker process left behind. Runs that are valid stay fast because the only
valid values offered are small, and the flags that set a run's length come last, fixed small."""

import multiprocessing
import os

import pytest
from conftest import ROOT, first_names
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microgpt.tool.cli import main

EDGE = ["0", "-1", "1", "2", "1e300", str(10 ** 30), "nan", "inf", "-inf", "1e-320", "", " ", "é", "名前",
        "\x00", "\udcff", "x" * 5000, "0.5", "1e3", "--steps"]
INT = ["n-layer", "n-embd", "n-head", "block-size", "steps", "batch-size", "warmup", "seed", "log-every",
       "eval-every", "eval-docs", "save-every", "num-samples", "workers"]
TRAIN = INT + ["data", "out", "resume", "preset", "lr", "schedule", "optimizer", "val-fraction", "engine",
               "device", "dtype", "temperature", "tokenizer", "vocab-size"]
COMMANDS = {
    # command: (its flags, what comes first, what comes last: the run's length, fixed small)
    "train": (TRAIN, ["--data", "tiny.txt", "--quiet"], ["--steps", "3", "--num-samples", "1", "--eval-every", "0"]),
    "sample": (["run", "checkpoint", "num-samples", "temperature", "top-k", "prompt", "seed", "max-len", "engine",
                "device", "dtype"], ["--run", "run"], []),
    "report": (["engine", "device", "dtype"], ["run"], []),
    "bench": (["data", "steps", "scalar-steps", "textbook-steps", "seconds", "workers", "engine", "device",
               "dtype"], ["--data", "tiny.txt"], ["--steps", "3", "--scalar-steps", "1", "--no-textbook"]),
    "kernels": (["n-embd", "n-head", "n-layer", "block-size", "vocab-size"], ["--list"], []),
    "export": (["format", "out", "dtype"], ["run"], []),
}
# a value each flag takes, so that valid runs are drawn as often as refusals
VALID = {"n-layer": "1", "n-embd": "8", "n-head": "2", "block-size": "8", "steps": "2", "batch-size": "2",
         "warmup": "1", "seed": "7", "log-every": "1", "eval-every": "1", "eval-docs": "3", "save-every": "1",
         "num-samples": "2", "workers": "2", "data": "tiny.txt", "out": "out", "resume": "run",
         "preset": "names-2min", "lr": "0.1", "schedule": "cosine", "optimizer": "sgd", "val-fraction": "0.2",
         "engine": "fast", "device": "auto", "dtype": "float64", "temperature": "1e-320", "run": "run",
         "checkpoint": "run/checkpoint.json", "top-k": "3", "prompt": "a", "max-len": "5", "scalar-steps": "1",
         "textbook-steps": "1", "seconds": "0.01", "vocab-size": "5", "format": "safetensors", "tokenizer": "bpe"}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A folder with tiny.txt (60 names) and a run trained on it for 2 steps."""
    path = tmp_path_factory.mktemp("fuzz")
    first_names(path, 60)
    old = os.getcwd()
    os.chdir(str(path))
    try:
        assert main(["--data", "tiny.txt", "--out", "run", "--steps", "2", "--num-samples", "0", "--quiet"]) == 0
    finally:
        os.chdir(old)
    return path


def repository_files():
    """(path, size, mtime) of every file of the repository outside .git: what no run may touch."""
    found = set()
    for top, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in (".git", ".hypothesis", "__pycache__", ".pytest_cache")]
        for name in files:
            st_ = os.stat(os.path.join(top, name))
            found.add((os.path.join(top, name), st_.st_size, st_.st_mtime_ns))
    return found


def child_processes():
    pids = []
    for task in os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else []:
        with open("/proc/self/task/%s/children" % task) as f:
            pids += f.read().split()
    return pids


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(sorted(COMMANDS)))
    flags, first, last = COMMANDS[command]
    fuzzed = []
    for flag in draw(st.lists(st.sampled_from(flags), min_size=1, max_size=3)):
        value = draw(st.sampled_from([VALID[flag]] + EDGE) if draw(st.booleans()) else st.just(VALID[flag]))
        if flag in ("run", "checkpoint") and command == "sample":
            first = []  # --run and --checkpoint exclude each other
        fuzzed += ["--" + flag, value]
    return [command] + first + fuzzed + last


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=command_lines())
def test_every_flag_with_edge_values(home, capsys, monkeypatch, argv):
    monkeypatch.chdir(str(home))
    before = repository_files()
    code = main(argv)
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in out + err, argv
    if code:
        lines = [line for line in err.splitlines() if not line.startswith("warning: ")]
        assert len(lines) == 1 and lines[0].startswith("microgpt: "), (argv, err)
    assert repository_files() == before, argv
    assert multiprocessing.active_children() == [] and child_processes() == [], argv
