"""Every user-facing failure, as a user would meet it: one clear line on stderr, the exit code docs/errors.md
promises (2 for a bad flag or an impossible combination of flags, 1 for other problems the user can fix,
130 for Ctrl-C), no traceback, and nothing the user already had lost or damaged."""

import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import closed_port_url

from microgpt.tool import checkpoint
from microgpt.tool.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = ["--steps", "6", "--num-samples", "0", "--quiet", "--eval-every", "0"]


@pytest.fixture
def tiny(tmp_path, names_path, monkeypatch):
    """Work in a temporary folder with the first 200 names in tiny.txt."""
    monkeypatch.chdir(tmp_path)
    with open(names_path, encoding="utf-8") as f:
        lines = f.read().splitlines()[:200]
    with open("tiny.txt", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return "tiny.txt"


def fails(capsys, argv, code=1):
    """Run the CLI, expect `code` and a single stderr line; return that line."""
    assert main(argv) == code
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err.strip()


# --------------------------------------------------------------------------------------------------
# bad data

@pytest.mark.parametrize("content, message", [
    (b"", "has no documents: it is empty or blank"),
    (b"  \n\n\t\n \n", "has no documents: it is empty or blank"),
    (b"anna\nbob\n\xe9mile\n", "data.txt line 3 is not valid UTF-8"),
    (None, "cannot read data.txt: No such file or directory"),
])
def test_bad_data_files(tmp_path, monkeypatch, capsys, content, message):
    monkeypatch.chdir(tmp_path)
    if content is not None:
        with open("data.txt", "wb") as f:
            f.write(content)
    assert message in fails(capsys, ["--data", "data.txt"] + FAST)
    assert not os.path.exists("runs")  # no half-made run directory either


def test_a_directory_where_a_file_belongs(tiny, capsys):
    os.mkdir("folder")
    assert "folder is a directory" in fails(capsys, ["--data", "folder"] + FAST)
    assert "folder is a directory" in fails(capsys, ["sample", "--checkpoint", "folder"])
    assert "tiny.txt is a file, not a run directory" in fails(capsys, ["sample", "--run", "tiny.txt"])
    assert "it is a file" in fails(capsys, ["--data", "tiny.txt", "--out", "tiny.txt"] + FAST)


def test_no_network_says_how_to_pass_data(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MICROGPT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MICROGPT_NAMES_URL", closed_port_url())
    assert main(["--steps", "1"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("downloading ") and len(err) == 2  # what it tried, then why it failed
    assert err[1].startswith("microgpt: error: could not download") and "pass --data FILE" in err[1]
    assert not (tmp_path / "cache" / "names.txt").exists()


# --------------------------------------------------------------------------------------------------
# bad flags and impossible combinations: exit 2, before any work

@pytest.mark.parametrize("argv, message", [
    (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["train", "--n-layer"], "argument --n-layer: expected one argument"),
    (["--steps", "0"], "0 is out of range: must be at least 1"),
    (["--steps", "ten"], "'ten' is not a whole number"),
    (["--lr", "-1"], "argument --lr: -1 is out of range: must be above 0"),
    (["--lr", "nan"], "argument --lr: nan is not a finite number: must be above 0"),
    (["--temperature", "-1"], "argument --temperature: -1 is out of range"),
    (["--optimizer", "rmsprop"], "argument --optimizer: invalid choice: 'rmsprop'"),
    (["--engine", "gpu"], "argument --engine: invalid choice: 'gpu'"),
    (["--val-fraction", "1.5"], "must be between 0 and 0.99"),
    (["--block-size", "1"], "1 is out of range: must be at least 2"),
    (["--n-head", "0"], "argument --n-head: 0 is out of range: must be at least 1"),
    (["--n-embd", "10", "--n-head", "3"], "n_embd (10) must be divisible by n_head (3)"),
    (["sample", "--top-k", "-1"], "out of range"),
])
def test_bad_flags(tiny, capsys, argv, message):
    if argv[0] != "sample":
        argv = ["--data", tiny] + argv
    assert message in fails(capsys, argv, 2)
    assert not os.path.exists("runs")


# --------------------------------------------------------------------------------------------------
# bad checkpoints: resuming never makes things worse

def trained(tiny, out="run", extra=()):
    assert main(["--data", tiny, "--out", out, "--save-every", "2"] + FAST + list(extra)) == 0
    return os.path.join(out, "checkpoint.json")


def rewrite(path, change):
    with open(path, "rb") as f:
        raw = f.read()
    with open(path, "wb") as f:
        f.write(change(raw))


DAMAGE = {
    "truncated": (lambda raw: raw[:len(raw) // 3], "truncated or corrupted"),
    "corrupted": (lambda raw: raw[:200] + b"\x00\xff garbage \xfe" + raw[220:], "truncated or corrupted"),
    "wrong version": (lambda raw: raw.replace(b'"version": 1', b'"version": 7', 1), "checkpoint version 7"),
    "other shape": (lambda raw: raw.replace(b'"wte": {"shape": [', b'"wte": {"shape": [1', 1), "has shape"),
    "foreign": (lambda raw: b'{"model_state_dict": {}}', "not a MicroGPT checkpoint"),
    "config type": (lambda raw: raw.replace(b'"steps": 6', b'"steps": true', 1),
                    "config.steps must be a whole number, got true"),
    "config value": (lambda raw: raw.replace(b'"n_head": 4', b'"n_head": 5', 1), "divisible"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_resume_from_a_damaged_checkpoint(tiny, capsys, damage):
    path = trained(tiny)
    change, message = DAMAGE[damage]
    rewrite(path, change)
    before = open(path, "rb").read()
    line = fails(capsys, ["--resume", "run", "--steps", "10"])
    assert message in line and path in line
    assert open(path, "rb").read() == before


def test_resume_from_nothing(tiny, capsys):
    assert "run is not a run directory" in fails(capsys, ["--resume", "run"])
    os.mkdir("run")
    assert "no checkpoint at %s" % os.path.join("run", "checkpoint.json") in fails(capsys, ["--resume", "run"])


def test_resume_when_the_data_changed_or_the_config_differs(tiny, capsys):
    trained(tiny)
    assert "--n-embd cannot change when resuming" in fails(capsys, ["--resume", "run", "--n-embd", "8"])
    with open(tiny, "a") as f:
        f.write("newname\n")
    assert "has changed since training; pass --data FILE with the file this run trained on" in fails(
        capsys, ["--resume", "run", "--steps", "8"])


def test_unwritable_run_directory(tiny, capsys):
    with open("a-file", "w") as f:
        f.write("x")
    line = fails(capsys, ["--data", tiny, "--out", os.path.join("a-file", "run")] + FAST)
    assert line.startswith("microgpt: error: cannot write to the run directory") and "--out DIR" in line
    if hasattr(os, "geteuid") and os.geteuid() != 0:  # root writes anywhere
        os.mkdir("locked")
        os.chmod("locked", 0o500)
        try:
            assert "cannot write to the run directory" in fails(
                capsys, ["--data", tiny, "--out", os.path.join("locked", "run")] + FAST)
        finally:
            os.chmod("locked", 0o700)


# --------------------------------------------------------------------------------------------------
# sampling

def test_a_fifo_in_a_run_directory_blocks_nothing(tiny, capsys):
    # a FIFO without a writer blocks whoever opens it for reading: the run directory's files are read
    # as any user's file is, so these are refused or passed over at once
    os.mkdir("odd")
    os.mkfifo(os.path.join("odd", "config.json"))
    start = time.time()
    line = fails(capsys, ["--data", tiny, "--out", "odd"] + FAST, 1)
    assert "--out odd is not empty and is not a MicroGPT run (it holds config.json)" in line, line
    default = os.path.join("runs", os.path.splitext(os.path.basename(tiny))[0])  # runs/<data file's name>
    os.makedirs(default)
    os.mkfifo(os.path.join(default, "config.json"))
    assert main(["--data", tiny] + FAST) == 0  # the default folder moves aside, as from any folder not a run
    assert os.path.isfile(os.path.join(default + "-2", "checkpoint.json"))
    assert time.time() - start < 30


def test_bad_prompts(tiny, capsys):
    trained(tiny)
    line = fails(capsys, ["sample", "--run", "run", "--prompt", "maX"])
    assert "the prompt has 1 character not in the model's vocabulary: 'X' (U+0058); its 26 characters are abc" in line
    assert "has 16 characters but the model's context is 16 tokens" in fails(
        capsys, ["sample", "--run", "run", "--prompt", "a" * 16])
    assert "max_len must be more than the prompt's 2 characters" in fails(
        capsys, ["sample", "--run", "run", "--prompt", "ma", "--max-len", "2"])
    assert "no checkpoint at" in fails(capsys, ["sample", "--run", "elsewhere"])


# --------------------------------------------------------------------------------------------------
# divergence and interruption

@pytest.mark.parametrize("lr", ["1e3", "1e300"])  # log of an underflowed probability; NaN from inf - inf
def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(tiny, capsys, lr):
    line = fails(capsys, ["--data", tiny, "--out", "run", "--lr", lr, "--save-every", "1", "--steps", "50",
                          "--quiet", "--num-samples", "0"])
    m = re.search(r"the loss became (\S+) at step (\d+): training diverged; stopped without saving: "
                  r"the last good checkpoint, step (\d+), is in (\S+); try a smaller --lr", line)
    assert m, line
    assert m.group(1) in ("nan", "inf")
    bad_step, good_step = int(m.group(2)), int(m.group(3))
    assert good_step == bad_step - 1
    ck = checkpoint.load(m.group(4))
    assert ck.step == good_step and all(math.isfinite(x) for x in ck.params)


def test_ctrl_c_in_a_real_process_saves_and_exits_130(tiny):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "microgpt", "--data", tiny, "--out", "run", "--steps",
                             "100000", "--save-every", "0", "--eval-every", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 60
    while time.time() < deadline:  # wait until it is well into training
        try:
            with open(os.path.join("run", "metrics.jsonl")) as f:
                if len(f.readlines()) >= 20:
                    break
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    lines = err.decode().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0]
    m = re.match(r"python -m microgpt: interrupted at step (\d+) of 100000; checkpoint saved to (\S+); continue with: "
                 r"python -m microgpt train --resume run$", lines[0])
    assert m, lines
    ck = checkpoint.load(m.group(2))
    assert ck.step == int(m.group(1)) >= 20
    with open(os.path.join("run", "metrics.jsonl")) as f:
        assert json.loads(f.readlines()[-1])["step"] == ck.step


# --------------------------------------------------------------------------------------------------
# numbers at the edge, empty paths, and sizes nobody can run

@pytest.mark.parametrize("argv, message", [
    (["--lr", "inf"], "argument --lr: inf is not a finite number: must be above 0"),
    (["--lr", "nan"], "argument --lr: nan is not a finite number"),
    (["--resume", ""], "argument --resume: the path is empty; give a run directory"),
    (["--out", ""], "argument --out: the path is empty; give a run directory"),
    (["--data", ""], "argument --data: the path is empty; give a data file"),
    (["--steps", str(10 ** 30)], "must be at most 1000000000"),
    (["--n-embd", "1e300"], "'1e300' is not a whole number"),
    (["sample", "--temperature", "inf"], "argument --temperature: inf is not a finite number: must be at least 0"),
    (["sample", "--run", ""], "argument --run: the path is empty"),
    (["export", ""], "the path is empty"),
    (["report", ""], "the path is empty"),
])
def test_edge_values_are_bad_flags(tiny, capsys, argv, message):
    if argv[0] not in ("sample", "export", "report"):
        argv = ["--data", tiny] + argv
    line = fails(capsys, argv, 2)
    assert message in line, line
    assert "top_k" not in line and "num_samples" not in line  # only what was given
    assert not os.path.exists("runs")


def test_a_temperature_too_small_to_invert_is_zero(tiny, capsys):
    # train used to fail after training and saving (1 / 1e-320 overflows); now it samples the argmax
    assert main(["--data", tiny, "--out", "run", "--temperature", "1e-320"] + FAST[:2] + ["--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "temperature=0.0" in out and "Traceback" not in err
    for t in ("1e-310", "5e-324"):
        assert main(["sample", "--run", "run", "--temperature", t, "--num-samples", "3", "--seed", "1"]) == 0
        out = capsys.readouterr().out
        assert "temperature=0.0" in out
        assert main(["sample", "--run", "run", "--temperature", "0", "--num-samples", "3", "--seed", "1"]) == 0
        assert capsys.readouterr().out == out  # the very same samples as temperature 0


@pytest.mark.parametrize("argv", [["--n-embd", "4096"], ["--n-embd", "100000"], ["--n-layer", "100000"],
                                  ["--block-size", "100000000"], ["--batch-size", "65536", "--n-embd", "256"]])
def test_sizes_nobody_can_run_are_refused_at_once(tiny, capsys, monkeypatch, argv):
    from microgpt.tool import cost
    monkeypatch.setattr(cost, "physical_memory", lambda: 4 * 1024 ** 3)  # the same answer on any machine
    start = time.time()
    line = fails(capsys, ["--data", tiny, "--out", "run"] + argv + FAST, 1)
    assert time.time() - start < 10  # no allocation first: it answers from the sizes alone
    assert re.search(r"would need about [\d.e+]+ GB of memory, but this machine has 4\.0 GB; choose a smaller "
                     r"model or batch", line), line
    assert not os.path.exists("run")


def test_the_scalar_engines_graph_is_counted(tiny, capsys, monkeypatch):
    # the scalar engine keeps a node per dot product and per elementwise op of a whole shard: far more
    # than the fast engine's tape, so a size the fast engine runs can be one the scalar engine cannot
    from microgpt.model import GPTConfig
    from microgpt.tool import cost
    monkeypatch.setattr(cost, "physical_memory", lambda: 4 * 1024 ** 3)
    config = GPTConfig(vocab_size=27, n_embd=512)
    assert cost.training_memory(config, 16, 8) < 4 * 1024 ** 3 < cost.training_memory(config, 16, 8, engine="scalar")
    start = time.time()
    line = fails(capsys, ["--data", tiny, "--out", "run", "--engine", "scalar", "--n-embd", "512", "--batch-size",
                          "16"] + FAST, 1)
    assert time.time() - start < 10
    assert "batch_size 16 on the scalar engine would need about" in line, line
    assert not os.path.exists("run")


def test_a_model_whose_checkpoint_could_not_be_read_back_is_refused_first(tiny, capsys):
    # checkpoint.py reads at most SIZE_LIMIT bytes: training such a model would save what nothing loads
    from microgpt.model import GPTConfig
    from microgpt.tool import checkpoint, cost
    for engine in ("fast", "torch"):
        start = time.time()
        line = fails(capsys, ["--data", tiny, "--out", "run", "--engine", engine, "--n-embd", "1024", "--n-head",
                              "4"] + FAST, 1)
        assert time.time() - start < 10 and "its checkpoint would be about" in line and "256 MiB" in line, line
        assert not os.path.exists("run")
    # the estimate errs high: a real checkpoint of a model is smaller than it says
    assert main(["--data", tiny, "--out", "run", "--n-embd", "64"] + FAST) == 0
    ck = checkpoint.load(os.path.join("run", "checkpoint.json"))
    estimate = cost.num_params(ck.model) * 3 * cost.CHECKPOINT_BYTES_PER_FLOAT
    assert os.path.getsize(os.path.join("run", "checkpoint.json")) < estimate
    assert cost.num_params(GPTConfig(vocab_size=27, n_embd=512)) * 72 < checkpoint.SIZE_LIMIT  # docs/errors.md's run


def test_a_name_with_a_newline_or_an_escape_code_stays_one_line(tiny, capsys, monkeypatch):
    line = fails(capsys, ["--data", "no\nsuch\x1b[31mred", "--out", "run"] + FAST, 1)
    assert "cannot read no\\nsuch\\x1b[31mred: " in line and "\x1b" not in line, line
    monkeypatch.setenv("MICROGPT_CACHE_DIR", os.path.abspath("cache"))
    monkeypatch.setenv("MICROGPT_NAMES_URL", "http://[")  # not even a URL: urlsplit raises
    assert "not an http:// or https:// address" in fails(capsys, ["--out", "run"] + FAST, 1)


def test_the_graph_estimate_errs_high(monkeypatch):
    # peak memory of one scalar backward pass, measured, against what cost.py says before the run
    import random
    import tracemalloc

    from microgpt import scalar_engine
    from microgpt.model import GPT, GPTConfig
    from microgpt.tool import cost
    rng = random.Random(0)
    for L, C, B, T, V in ((1, 32, 4, 8, 27), (2, 16, 8, 12, 27), (1, 8, 2, 10, 600)):
        model = GPT(GPTConfig(vocab_size=V, n_layer=L, n_embd=C))
        batch = [[V - 1] + [rng.randrange(V - 1) for _ in range(T)] + [V - 1] for _ in range(B)]
        tracemalloc.start()
        try:
            scalar_engine.loss_and_grad(model, batch)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        estimate = cost.training_memory(model.config, B, T + 1, engine="scalar")
        assert peak < estimate < 4 * peak, (L, C, B, T, V, peak, estimate)


def test_running_out_of_memory_is_one_line_and_keeps_the_checkpoint(tiny, capsys, monkeypatch):
    from microgpt.speed import engine
    trained(tiny)
    before = open(os.path.join("run", "checkpoint.json"), "rb").read()

    def no_memory(model, batch):
        raise MemoryError()
    monkeypatch.setattr(engine, "loss_and_grad", no_memory)
    line = fails(capsys, ["--resume", "run", "--steps", "10"], 1)
    assert line.startswith("microgpt: error: out of memory: ") and "choose a smaller model or batch" in line, line
    assert open(os.path.join("run", "checkpoint.json"), "rb").read() == before


def test_kernels_and_resume_count_the_cost_too(tiny, capsys, monkeypatch):
    from microgpt.tool import cost
    assert "would need about" in fails(capsys, ["kernels", "--block-size", "3000", "--list"], 1)
    trained(tiny)
    monkeypatch.setattr(cost, "physical_memory", lambda: 1024 ** 2)  # 1 MB: no run fits
    before = open(os.path.join("run", "checkpoint.json"), "rb").read()
    assert "but this machine has 1 MB" in fails(capsys, ["--resume", "run", "--steps", "10"], 1)
    assert open(os.path.join("run", "checkpoint.json"), "rb").read() == before


def test_a_run_longer_than_an_hour_is_warned_about_once(tiny, capsys, monkeypatch):
    from microgpt.tool import cost
    monkeypatch.setattr(cost, "NS_PER_MAC", 1e9)  # a second per multiply-add: any run takes hours
    assert main(["--data", tiny] + FAST) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and re.match(r"warning: 6 steps of n_layer 1, n_embd 16, block_size 16, batch_size 1 "
                                      r"will take about \S+ (hours|days)", err[0]), err
