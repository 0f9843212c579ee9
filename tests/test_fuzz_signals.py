"""Signals at any moment: Ctrl-C (SIGINT), SIGTERM (`timeout`, `kill`, `docker stop`, a scheduler's preemption)
and SIGHUP (a closed terminal) each save and stop as Ctrl-C does, a second one stops at once, the line says
what was kept, the exit code is 128 + the signal's number, and the run resumes to the very bits of a run
never stopped. Real processes, signalled at a step hypothesis picks."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, first_names
from hypothesis import given, settings
from hypothesis import strategies as st

from microgpt.tool import checkpoint, console, report, runs
from microgpt.tool.cli import main

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
BAD = ("Traceback", "Exception ignored", "Process Process-")  # the last: a worker's traceback, multiprocessing's
STEPS = 40
# a small model, a checkpoint every 7 steps, a loss line every step (the test signals at one of them)
FLAGS = ["--steps", str(STEPS), "--n-embd", "8", "--n-head", "2", "--save-every", "7", "--eval-every", "0",
         "--num-samples", "2", "--quiet"]
SIGNALS = console.STOPS  # SIGINT, SIGTERM, SIGHUP


def numbers(run_dir):
    """All a run computed: its checkpoint, but for the worker count (which changes no number)."""
    with open(os.path.join(run_dir, runs.CHECKPOINT)) as f:
        doc = json.load(f)
    del doc["config"]["workers"]
    return doc


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """(data file, the run never stopped)."""
    folder = tmp_path_factory.mktemp("straight")
    data = first_names(folder, 300)
    assert main(["--data", data, "--out", str(folder / "run")] + FLAGS) == 0
    return data, str(folder / "run")


def start(data, cwd, *extra, **kw):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.Popen([sys.executable, "-m", "microgpt", "--data", data, "--out", "run"] + FLAGS + list(extra),
                            cwd=str(cwd), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def reach(proc, step):
    """Read the child's lines until the loss line of `step` (0: the first line), or its end."""
    want = "config: " if step == 0 else "step %4d / %4d |" % (step, STEPS)
    for line in proc.stdout:
        if line.startswith(want):
            return


def ended(proc, timeout=60):
    out, err = proc.communicate(timeout=timeout)
    assert not any(b in err for b in BAD), err
    return err.splitlines()


def said(sig):
    return "python -m microgpt: " + console.stopped_by(sig)


def resume_matches(run_dir, expected):
    """Resumed to the end (if it is not there), the run has the numbers of the run never stopped, `expected`."""
    if checkpoint.load(os.path.join(run_dir, runs.CHECKPOINT)).step < STEPS:
        assert main(["--resume", run_dir, "--quiet", "--num-samples", "0"]) == 0
    same = numbers(run_dir) == numbers(expected)  # (pytest's diff of two checkpoints would take minutes)
    assert same, "%s differs from %s" % (run_dir, expected)


# --------------------------------------------------------------------------------------------------
# one signal between steps saves; a second stops at once

@pytest.mark.parametrize("sig", SIGNALS, ids=[signal.Signals(s).name for s in SIGNALS])
def test_a_signal_between_steps_saves_says_so_and_resumes_exactly(tmp_path, straight, sig):
    data, expected = straight
    proc = start(data, tmp_path)
    reach(proc, 10)
    proc.send_signal(sig)
    lines = ended(proc)
    assert proc.returncode == 128 + sig, lines
    m = re.match(r"%s at step (\d+) of %d; checkpoint saved to (\S+); continue with: python -m microgpt train "
                 r"--resume run$" % (said(sig), STEPS), lines[0])
    assert len(lines) == 1 and m, lines
    assert checkpoint.load(str(tmp_path / m.group(2))).step == int(m.group(1)) >= 10
    resume_matches(str(tmp_path / "run"), expected)


# both signals during step 9: the first asks to stop after it, the second means now, and ends the step's sleep
TWICE = """
import os, sys, time
from microgpt import speed
from microgpt.speed import engine
from microgpt.tool.cli import main
calls = []
def loss_and_grad(model, batch):
    calls.append(1)
    if len(calls) == 9:
        os.kill(os.getpid(), %d)
        os.kill(os.getpid(), %d)
        time.sleep(30)
    return engine.loss_and_grad(model, batch)
speed.ENGINES["fast"] = type("Twice", (), {"loss_and_grad": staticmethod(loss_and_grad)})
sys.exit(main(sys.argv[1:], "microgpt"))
"""


@pytest.mark.parametrize("sig", SIGNALS, ids=[signal.Signals(s).name for s in SIGNALS])
def test_a_second_signal_stops_at_once_and_keeps_the_last_checkpoint(tmp_path, straight, sig):
    begun = time.time()
    proc = subprocess.Popen([sys.executable, "-c", TWICE % (sig, sig), "--data", straight[0], "--out", "run"] + FLAGS,
                            cwd=str(tmp_path), env=dict(os.environ, PYTHONPATH=ROOT), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = ended(proc)
    assert time.time() - begun < 20  # not the 30 s of the step's sleep
    assert proc.returncode == 128 + sig and lines == [
        "microgpt: %s during step 9 of %d; not saved: the last good checkpoint, step 7, is in %s"
        % (console.stopped_by(sig), STEPS, os.path.join("run", runs.CHECKPOINT))], lines
    assert checkpoint.load(str(tmp_path / "run" / runs.CHECKPOINT)).step == 7


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs process groups")
@pytest.mark.parametrize("sig", SIGNALS[1:], ids=[signal.Signals(s).name for s in SIGNALS[1:]])
def test_workers_outlive_a_signal_to_the_whole_group_and_the_run_saves(tmp_path, straight, sig):
    # a terminal that closes sends SIGHUP to every process of its session, `kill -TERM -PGID` SIGTERM: the
    # workers wait for the main process to save and tell them to stop, without a traceback
    proc = start(straight[0], tmp_path, "--workers", "2", "--batch-size", "32", start_new_session=True)
    reach(proc, 5)
    os.killpg(proc.pid, sig)
    lines = ended(proc)
    assert proc.returncode == 128 + sig and len(lines) == 1, lines
    m = re.match(r"%s at step (\d+) of %d; checkpoint saved to " % (said(sig), STEPS), lines[0])
    assert m and checkpoint.load(str(tmp_path / "run" / runs.CHECKPOINT)).step == int(m.group(1)), lines


# --------------------------------------------------------------------------------------------------
# any signal, at any step, once or twice

@settings(max_examples=6)
@given(sig=st.sampled_from(SIGNALS), at=st.integers(0, STEPS), twice=st.booleans())
def test_signals_at_any_moment_keep_a_good_run_that_resumes_exactly(tmp_path_factory, straight, sig, at, twice):
    data, expected = straight
    folder = tmp_path_factory.mktemp("signalled")
    run_dir = str(folder / "run")
    proc = start(data, folder)
    reach(proc, at)
    proc.send_signal(sig)
    if twice:
        time.sleep(0.02)  # two signals before Python sees the first are one
        proc.send_signal(sig)
    lines = ended(proc)
    if proc.returncode == 0:  # the signal came once the work was done: it is ignored then
        assert lines == [] and checkpoint.load(os.path.join(run_dir, runs.CHECKPOINT)).step == STEPS
    else:
        assert proc.returncode == 128 + sig and len(lines) == 1 and lines[0].startswith(said(sig)), lines
    assert not [n for n in os.listdir(run_dir) if n.endswith(".tmp")]  # no half-written file left behind
    m = re.search(r"checkpoint saved to ([^;\s]+)", lines[0] if lines else "")
    if m:
        step = re.search(r"at step (\d+) of", lines[0])
        assert step is None or checkpoint.load(str(folder / m.group(1))).step == int(step.group(1))
    if os.path.exists(os.path.join(run_dir, runs.CHECKPOINT)):
        resume_matches(run_dir, expected)
    else:  # stopped at once before the first save: the line says so
        assert "no checkpoint had been saved yet" in lines[0], lines


# --------------------------------------------------------------------------------------------------
# the final report: the run is saved by then, and a page is not worth the wait

def test_a_stop_signal_during_the_final_report_ends_it_at_once(tmp_path, straight, monkeypatch, capsys):
    def slow_write(run):  # a final page that takes 15 s to draw (a large model's attention maps, say)
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(300):
            time.sleep(0.05)
    monkeypatch.setattr(report, "write", slow_write)
    run_dir = str(tmp_path / "run")
    begun = time.time()
    assert main(["--data", straight[0], "--out", run_dir] + FLAGS) == 130
    assert time.time() - begun < 10
    saved = os.path.join(run_dir, runs.CHECKPOINT)
    assert capsys.readouterr().err == ("microgpt: interrupted while writing the report; the run is complete; "
                                       "checkpoint saved to %s (the report command draws its page)\n" % saved)
    assert checkpoint.load(saved).step == STEPS
