"""kill -9 at the worst moments: what the next run finds must be whole and its own. A real process is
killed at a chosen call (the call replaced by SIGKILL to itself), then the next command goes on."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT
from test_workers import wait_for_step

from microgpt.config import TrainConfig
from microgpt.tool import checkpoint, runs, training
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


# --------------------------------------------------------------------------------------------------
# a run's folder renamed while it trains: the run, its lock and its saves stay with the folder

@pytest.mark.skipif(os.name == "nt", reason="Windows renames no folder with a file open in it")
def test_a_run_keeps_its_folder_when_it_is_renamed_and_no_second_run_shares_it(tmp_path, tiny, capsys):
    a, b = str(tmp_path / "A"), str(tmp_path / "B")
    first = subprocess.Popen([sys.executable, "-m", "microgpt", "--data", tiny, "--out", "A", "--steps", "100000",
                              "--save-every", "5", "--eval-every", "0", "--num-samples", "0", "--quiet"],
                             cwd=str(tmp_path), env=dict(os.environ, PYTHONPATH=ROOT), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        wait_for_step(a, 6, first)
        os.rename(a, b)  # mv A B
        wait_for_step(b, 20, first)
        # the folder by its new name is still the first run's
        for argv in (["--resume", b], ["--data", tiny, "--out", b, "--overwrite"]):
            assert main(argv + ["--steps", "200000", "--quiet"]) == 1
            assert "is in use by another training run (pid %d on " % first.pid in capsys.readouterr().err
        # and the old name is free for a run of its own, which the first run leaves alone
        assert main(["--data", tiny, "--out", a, "--steps", "3", "--quiet", "--num-samples", "0"]) == 0
        second = contents(a)
        wait_for_step(b, 40, first)
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=60)
    assert first.returncode == 128 + signal.SIGTERM, err
    assert re.match(r"python -m microgpt: stopped by SIGTERM at step (\d+) of 100000; checkpoint saved to "
                    r"B/checkpoint\.json; continue with: python -m microgpt train --resume B\n$", err), err
    assert checkpoint.load(os.path.join(b, runs.CHECKPOINT)).step >= 40
    assert contents(a) == second and runs.LOCK not in os.listdir(b)


def test_a_lock_released_after_its_folder_moved_leaves_the_lock_now_at_the_old_path(tmp_path):
    a, b = str(tmp_path / "A"), str(tmp_path / "B")
    os.mkdir(a)
    first = runs.Lock(a)
    assert first.acquire()
    os.rename(a, b)
    os.mkdir(a)
    second = runs.Lock(a)  # another run, in a new folder at the old path
    assert second.acquire()
    first.release()  # (a RunDir follows its folder first: this is the lock alone)
    assert runs.in_use(a)
    second.release()
    assert not os.listdir(a)


# --------------------------------------------------------------------------------------------------
# the temp file of a write killed midway: removed by the next write of the same file, never another file

def strays(folder, name):
    return sorted(n for n in os.listdir(folder) if n.startswith("." + name + ".") and n.endswith(".tmp"))


def left_long_ago(folder, name):
    """The killed write's temp file, dated as if it were left long ago (a write under way is never removed,
    even one by a process of another machine sharing the folder: see files.STRAY_AGE)."""
    (left,) = strays(folder, name)
    os.utime(os.path.join(folder, left), (time.time() - 3600, time.time() - 3600))
    return left


def decoys(folder, name):
    """Files that look like a stray but are not one this process may remove: a user's, and a write under way in
    a live process (this one)."""
    made = [".%s.tmp" % name, ".%s.123.nothex00.tmp" % name, ".%s.%d.0badcafe.tmp" % (name, os.getpid())]
    for decoy in made:
        with open(os.path.join(folder, decoy), "w") as f:
            f.write("not ours to remove")
        os.utime(os.path.join(folder, decoy), (time.time() - 3600, time.time() - 3600))
    return made


@pytest.mark.parametrize("command, name", [(["export", "run"], "model.safetensors"),
                                           (["report", "run"], "report.html")])
def test_a_killed_export_or_report_leaves_a_temp_file_the_next_one_removes(tmp_path, tiny, command, name):
    run_dir = str(tmp_path / "run")
    assert main(["--data", tiny, "--out", run_dir, "--steps", "3", "--quiet", "--num-samples", "0"]) == 0
    assert killed_at("files.os.replace", command + ["--overwrite"] * (command[0] == "export"),
                     tmp_path) == -signal.SIGKILL
    left_long_ago(run_dir, name)
    kept = decoys(run_dir, name)
    assert main([command[0], run_dir] + ["--overwrite"] * (command[0] == "export")) == 0
    assert strays(run_dir, name) == sorted(kept)


def test_a_killed_download_leaves_a_temp_file_the_next_one_removes(tmp_path, http_server, names_path):
    from microgpt.tool import download
    with open(names_path, "rb") as f:
        url = http_server({"/names.txt": f.read()}).url("/names.txt")
    cache = str(tmp_path / "cache")
    env = dict(os.environ, MICROGPT_NAMES_URL=url, MICROGPT_CACHE_DIR=cache)
    proc = subprocess.run([sys.executable, "-c", KILLED_AT.format(module="files", target="files.os.replace"),
                           "--steps", "1", "--out", "run"], cwd=str(tmp_path), env=dict(env, PYTHONPATH=ROOT),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    left_long_ago(cache, "names.txt")
    kept = decoys(cache, "names.txt")
    assert download.is_cached(download.ensure_names(url=url, folder=cache))
    assert strays(cache, "names.txt") == sorted(kept)
