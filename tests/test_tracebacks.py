"""Hostile inputs that once ended in a traceback (issue 18): each must be one line on stderr and a non-zero
exit, with nothing written that was not there before."""

import errno
import multiprocessing
import os
import sys

import pytest

from microgpt import sample
from microgpt.model import GPT
from microgpt.tool import checkpoint, svg
from microgpt.tool.cli import main


def one_line(capsys, code, expected):
    err = capsys.readouterr().err
    assert code == expected and err.count("\n") == 1 and err.startswith("microgpt: error: "), (code, err)
    return err


# --------------------------------------------------------------------------------------------------
# torchrun's environment

TORCHRUN = [("WORLD_SIZE", ""), ("WORLD_SIZE", "two"), ("WORLD_SIZE", "0"), ("RANK", "x"), ("RANK", "-1"),
            ("LOCAL_RANK", "")]


# the fast engine reads only WORLD_SIZE (to refuse more than one process); the torch engine all three
@pytest.mark.parametrize("engine, name, value", [("fast", n, v) for n, v in TORCHRUN if n == "WORLD_SIZE"] +
                         [("torch", n, v) for n, v in TORCHRUN])
def test_torchrun_variables_that_are_not_whole_numbers_are_one_line(tmp_path, tiny, monkeypatch, capsys, engine,
                                                                    name, value):
    if engine == "torch":
        pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    code = main(["train", "--data", tiny, "--steps", "1", "--engine", engine, "--out", "run", "--num-samples", "0"])
    assert "$%s is %r" % (name, value) in one_line(capsys, code, 1)
    assert not os.path.exists("run")


def test_a_rank_past_the_world_is_one_line(tmp_path, tiny, monkeypatch, capsys):
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    code = main(["train", "--data", tiny, "--steps", "1", "--engine", "torch", "--batch-size", "2", "--out", "run"])
    assert "$RANK is 2" in one_line(capsys, code, 1)
    assert not os.path.exists("run")


# --------------------------------------------------------------------------------------------------
# the download's address

@pytest.mark.parametrize("port", ["99999999999999999999999", "9223372036854775808", "70000", "-1", "x"])
def test_a_port_that_is_not_a_port_is_one_line(tmp_path, monkeypatch, capsys, port):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MICROGPT_NAMES_URL", "http://127.0.0.1:%s/names.txt" % port)
    code = main(["train", "--steps", "1", "--out", "run"])
    assert "its port is not a whole number from 0 to 65535" in one_line(capsys, code, 1)
    assert not os.path.exists("run") and not os.listdir(os.environ["MICROGPT_CACHE_DIR"])


# --------------------------------------------------------------------------------------------------
# numbers at the edge of floats

def test_the_report_of_a_run_with_the_smallest_learning_rate(tmp_path, tiny, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", tiny, "--steps", "3", "--lr", "5e-324", "--out", "run", "--quiet",
                 "--num-samples", "0"]) == 0
    assert "warning" not in capsys.readouterr().err  # the page written at the end of training too
    assert main(["report", "run"]) == 0
    with open(os.path.join("run", "report.html"), encoding="utf-8") as f:
        assert 'data-name="lr"' in f.read()


@pytest.mark.parametrize("hi", [5e-324, 1e-320, 2.3e-308, 1e-300])
def test_axis_ticks_of_a_range_near_the_smallest_float(hi):
    values, decimals = svg.ticks(0.0, hi)
    assert values and all(0.0 <= v <= hi for v in values) and decimals >= 0


def test_a_tiny_temperature_on_huge_logits_takes_the_likeliest_token(tmp_path, tiny, monkeypatch, capsys):
    """Weights of 1e150 (finite) give logits whose product with 1/T = 1e199 overflows; the draw is then
    the limit of a colder and colder softmax, the likeliest token: what --temperature 0 writes."""
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", tiny, "--steps", "3", "--out", "run", "--quiet", "--num-samples", "0"]) == 0
    ck = checkpoint.load(os.path.join("run", "checkpoint.json"))
    offset, rows, cols = GPT(ck.model, params=ck.params).layout["lm_head"]
    ck.params[offset:offset + rows * cols] = [w * 1e150 for w in ck.params[offset:offset + rows * cols]]
    checkpoint.save("huge.json", ck)
    capsys.readouterr()
    written = {}
    for t in ("1e-199", "0"):
        assert main(["sample", "--checkpoint", "huge.json", "--temperature", t, "--num-samples", "5"]) == 0
        written[t] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("sample ")]
    assert written["1e-199"] == written["0"] and len(written["0"]) == 5
    assert sample.next_token_probs([1e150, -2e150, 3e150], 1e-199, top_k=2) == [0.0, 0.0, 1.0]


# --------------------------------------------------------------------------------------------------
# what the operating system refuses

def test_a_fork_refused_is_one_line_and_ends_the_workers_already_started(tmp_path, tiny, monkeypatch, capsys):
    """As under `ulimit -u`: the first worker starts, the second fork fails with EAGAIN."""
    if not sys.platform.startswith("linux"):
        pytest.skip("workers are forked on Linux only")
    real_fork, forks = os.fork, []

    def fork():
        forks.append(1)
        if len(forks) > 1:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        return real_fork()
    monkeypatch.setattr(os, "fork", fork)
    monkeypatch.chdir(tmp_path)
    code = main(["train", "--data", tiny, "--steps", "2", "--workers", "3", "--batch-size", "40", "--out", "run"])
    err = one_line(capsys, code, 1)
    assert "cannot start worker process 2 of 2: Resource temporarily unavailable" in err, err
    assert multiprocessing.active_children() == []


@pytest.fixture
def run(tmp_path, tiny, monkeypatch, capsys):
    """A run of 3 steps in tmp_path/run, the working folder tmp_path."""
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", tiny, "--steps", "3", "--out", "run", "--quiet", "--num-samples", "0"]) == 0
    capsys.readouterr()
    return "run"


def files_of(folder):
    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))}


def test_a_name_past_the_systems_limit_is_one_line_saying_so(run, tiny, capsys):
    """A name longer than the system allows (ENAMETOOLONG) was "no checkpoint at ..." for the commands that
    look for a run first; and a name near the limit, the user's to have, could not be written because its
    temp file's name was 21 characters longer."""
    long = "a" * (os.pathconf(".", "PC_NAME_MAX") + 45)
    for argv in (["train", "--data", long, "--steps", "1"], ["train", "--data", tiny, "--out", long],
                 ["train", "--resume", long], ["sample", "--run", long], ["sample", "--checkpoint", long],
                 ["report", long], ["export", long], ["export", run, "--out", long]):
        assert os.strerror(errno.ENAMETOOLONG) in one_line(capsys, main(argv), 1), argv
    near = "b" * (os.pathconf(".", "PC_NAME_MAX") - 5) + ".st"
    assert main(["export", run, "--out", near]) == 0 and os.path.isfile(near)


def test_a_run_folder_that_may_not_be_searched_is_one_line_saying_so(run, tiny, monkeypatch, capsys):
    """chmod 000 on the run's folder (as root, which reads it anyway, simulated): its files cannot even be
    looked at, which is not the same as their not being there."""
    real_lstat = os.lstat

    def lstat(path, *args, **kwargs):
        if os.fspath(path).startswith(run + os.sep):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return real_lstat(path, *args, **kwargs)
    monkeypatch.setattr(os, "lstat", lstat)
    for argv in (["train", "--resume", run, "--steps", "6"], ["sample", "--run", run], ["report", run],
                 ["export", run]):
        err = one_line(capsys, main(argv), 1)
        assert "cannot read the checkpoint run/checkpoint.json: Permission denied" in err, (argv, err)


def test_an_unreadable_data_file_is_one_line_saying_so(run, tiny, monkeypatch, capsys):
    real_open = os.open

    def open_(path, *args, **kwargs):
        if os.fspath(path) == tiny:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr(os, "open", open_)
    assert "cannot read %s: Permission denied" % tiny in one_line(capsys, main(["train", "--data", tiny, "--steps",
                                                                              "1", "--out", "other"]), 1)
    assert "cannot read %s: Permission denied" % tiny in one_line(capsys, main(["train", "--resume", run, "--steps",
                                                                              "6"]), 1)


def test_a_full_disk_is_one_line_with_what_to_do_for_every_command_that_writes(run, tiny, monkeypatch, capsys):
    """ENOSPC where the bytes reach the disk (fsync: write_atomic's every file), and where run.lock is
    written: one line that says to free some space, the run's files as they were, no temp file left."""
    def full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    before = files_of(run)
    for argv in (["train", "--data", tiny, "--steps", "1", "--out", "new"], ["train", "--resume", run, "--steps", "6"],
                 ["report", run], ["export", run]):
        with monkeypatch.context() as m:
            m.setattr(os, "fsync", full)
            err = one_line(capsys, main(argv), 1)
        assert "No space left on device; free some space" in err, (argv, err)
        assert files_of(run) == before and not [name for name in os.listdir("new") if name.endswith(".tmp")]
    with monkeypatch.context() as m:
        m.setattr(os, "write", full)  # the lock's note: the lock is let go, its empty file removed
        err = one_line(capsys, main(["train", "--resume", run, "--steps", "6"]), 1)
    assert "No space left on device; free some space on that disk, then resume it" in err, err
    assert files_of(run) == before
