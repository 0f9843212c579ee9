"""kill -9 at the worst moments: what the next run finds must be whole and its own. A real process is
killed at a chosen call (the call replaced by SIGKILL to itself), then the next command goes on."""

import json
import os
import signal
import subprocess
import sys

import pytest
from conftest import ROOT

from microgpt.config import TrainConfig
from microgpt.tool import runs, training
from microgpt.tool.cli import main

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")

KILLED_AT = """
import os, signal, sys
from microgpt.tool import {module}
from microgpt.tool.cli import main
def killed(*args, **kw):
    os.kill(os.getpid(), signal.SIGKILL)
{target} = killed
sys.exit(main(sys.argv[1:]))
"""


def killed_at(target, argv, cwd):
    """Run the command `argv` in a process that kills itself (SIGKILL) when it calls `target`, a name under
    microgpt.tool ("runs.RunDir.take_over"); returns its exit code."""
    script = KILLED_AT.format(module=target.split(".")[0], target=target)
    proc = subprocess.run([sys.executable, "-c", script] + argv, cwd=str(cwd), env=dict(os.environ, PYTHONPATH=ROOT),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    return proc.returncode


def records(run_dir):
    """metrics.jsonl but for the speed, which differs from run to run."""
    with open(os.path.join(run_dir, runs.METRICS)) as f:
        return [{k: v for k, v in json.loads(line).items() if k != "tokens_per_s"} for line in f]


def contents(run_dir, names=(runs.CHECKPOINT, runs.METRICS, runs.CONFIG)):
    return {name: open(os.path.join(run_dir, name), "rb").read() for name in names}


# --------------------------------------------------------------------------------------------------
# --overwrite: the old run stays whole until the new run's first save, then the new one is whole

NEW = ["--steps", "8", "--save-every", "4", "--seed", "7", "--eval-every", "0", "--num-samples", "0", "--quiet"]


@pytest.fixture
def old_run(tmp_path, tiny):
    cfg = TrainConfig(data=tiny, steps=6, seed=1, num_samples=0, quiet=True, eval_every=0)
    training.train(cfg, out=open(os.devnull, "w"), err=open(os.devnull, "w"), run_dir=str(tmp_path / "run"))
    return str(tmp_path / "run")


def test_killed_right_after_an_overwrites_first_save_the_new_run_is_whole(tmp_path, tiny, old_run):
    # the new checkpoint is in place, its metrics and config not yet: the next start moves them in
    assert killed_at("runs.RunDir.take_over", ["--data", tiny, "--out", old_run, "--overwrite"] + NEW,
                     tmp_path) == -signal.SIGKILL
    assert main(["--resume", old_run, "--quiet"]) == 0
    straight = str(tmp_path / "straight")
    assert main(["--data", tiny, "--out", straight] + NEW) == 0
    assert records(old_run) == records(straight)  # the new run's records only, none of the old run's
    assert contents(old_run, [runs.CHECKPOINT]) == contents(straight, [runs.CHECKPOINT])
    with open(os.path.join(old_run, runs.CONFIG)) as a, open(os.path.join(straight, runs.CONFIG)) as b:
        assert json.load(a)["config"] == json.load(b)["config"]
    assert not {runs.PENDING, runs.JOURNAL} & set(os.listdir(old_run))


def test_killed_during_an_overwrites_first_save_the_old_run_stays_whole(tmp_path, tiny, old_run):
    before = contents(old_run)
    assert killed_at("checkpoint.save", ["--data", tiny, "--out", old_run, "--overwrite"] + NEW,
                     tmp_path) == -signal.SIGKILL
    assert contents(old_run) == before
    assert main(["--resume", old_run, "--steps", "9", "--quiet", "--num-samples", "0"]) == 0  # the old run goes on
    assert [r["step"] for r in records(old_run) if "loss" in r] == list(range(1, 10))
    assert not {runs.PENDING, runs.JOURNAL} & set(os.listdir(old_run))
