"""Several processes, the same bits: worker-count independence, the prefix-trie evaluation, and a worker
that dies or a Ctrl-C that reaches every process."""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, first_names
from test_engine import random_case

from microgpt import train
from microgpt.config import TrainConfig
from microgpt.errors import ComputeError
from microgpt.optim import Adam
from microgpt.speed import engine, evaluate, workers
from microgpt.tool import checkpoint
from microgpt.tool.cli import main


@pytest.fixture
def names300(tmp_path):
    return first_names(tmp_path, 300, "names300.txt")


def numbers(run_dir):
    """What a run computed: its checkpoint without the config (which records the worker count)."""
    with open(os.path.join(run_dir, "checkpoint.json")) as f:
        doc = json.load(f)
    del doc["config"]["workers"]
    return doc


def metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [{k: v for k, v in json.loads(line).items() if k != "tokens_per_s"} for line in f]


def test_any_worker_count_gives_the_same_bits_also_after_a_resume(tmp_path, names300, capsys):
    # batch 40 = shards of 16, 16 and 8 documents; 3 workers take one each, 2 share them unevenly
    flags = ["--data", names300, "--batch-size", "40", "--eval-every", "3", "--eval-docs", "0", "--num-samples", "5",
             "--quiet", "--save-every", "2"]
    runs = {}
    for n in (1, 2, 3):
        out = str(tmp_path / ("w%d" % n))
        assert main(flags + ["--steps", "4", "--workers", str(n), "--out", out]) == 0
        # and resumed with another count: 1 -> 3, 2 -> 1, 3 -> 2
        assert main(["--resume", out, "--steps", "7", "--workers", str(n % 3 + 1), "--quiet"]) == 0
        runs[n] = out
    printed = capsys.readouterr().out
    first = numbers(runs[1])
    assert first["step"] == 7
    for n in (2, 3):
        assert numbers(runs[n]) == first
        assert metrics(runs[n]) == metrics(runs[1])
    samples = re.findall(r"^sample +\d+: (.*)$", printed, re.M)  # six runs: fresh, resumed, for 1, 2, 3 workers
    assert len(samples) == 6 * 5
    assert samples[0:5] == samples[10:15] == samples[20:25] and samples[5:10] == samples[15:20] == samples[25:30]


def test_a_batch_in_shards_is_one_call_for_a_small_batch_and_close_to_it_for_a_large_one():
    model, _ = random_case(3)
    bos = model.config.vocab_size - 1
    rng = random.Random(0)
    batch = [[bos] + [rng.randrange(bos) for _ in range(rng.randint(1, 9))] + [bos] for _ in range(40)]
    assert train.batch_loss_and_grad(engine.loss_and_grad, model, batch[:16]) == engine.loss_and_grad(model, batch[:16])
    loss, grads = train.batch_loss_and_grad(engine.loss_and_grad, model, batch)
    whole_loss, whole_grads = engine.loss_and_grad(model, batch)
    assert abs(loss - whole_loss) < 1e-14
    assert max(abs(a - b) for a, b in zip(grads, whole_grads)) < 1e-15


@pytest.mark.parametrize("seed", range(6))
def test_the_prefix_trie_evaluation_is_the_whole_batch_forward_to_the_bit(seed):
    model, batch = random_case(seed)
    rng = random.Random(seed)
    bos = model.config.vocab_size - 1
    batch += [batch[0][:2] + [rng.randrange(bos) for _ in range(3)] + [bos] for _ in range(5)]  # shared prefixes
    batch.append(list(batch[0]))  # and a repeated document
    assert evaluate.evaluate(model, batch) == engine.loss_only(model, batch)


def test_a_pool_shares_out_evaluation_with_the_same_result(names300):
    cfg = TrainConfig(data=names300, workers=3)
    model, batch = random_case(1)
    compute = workers.PoolCompute(cfg, model, Adam(model.num_params), 3)
    try:
        bos = model.config.vocab_size - 1
        rng = random.Random(5)
        docs = [[bos] + [rng.randrange(bos) for _ in range(rng.randint(0, 6))] + [bos] for _ in range(60)]
        assert compute.evaluate(docs) == engine.loss_only(model, docs)
        expected = train.batch_loss_and_grad(engine.loss_and_grad, model, docs[:40])[0]
        assert compute.train(docs[:40], 0.01) == expected  # three shards, two of them in the workers
        assert compute.evaluate(docs) == engine.loss_only(model, docs)  # the workers got the new weights
        os.kill(compute.procs[1].pid, signal.SIGKILL)
        compute.procs[1].join(10)
        with pytest.raises(ComputeError, match=r"worker process 2 \(pid \d+\) died, exit code -9"):
            compute.train(docs[:40], 0.01)
    finally:
        compute.close()


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def start(names300, run_dir, *extra):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "microgpt", "--data", names300, "--out", run_dir, "--steps",
                             "100000", "--batch-size", "32", "--workers", "2", "--save-every", "3", "--eval-every",
                             "0", "--quiet"] + list(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, start_new_session=True)


def wait_for_step(run_dir, step, proc, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            with open(os.path.join(run_dir, "metrics.jsonl")) as f:
                if len(f.readlines()) >= step:
                    return
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise AssertionError("the run did not reach step %d" % step)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker through /proc")
@pytest.mark.parametrize("sig, says", [(signal.SIGKILL, r"died, exit code -9"),
                                       # alive but never to answer: waiting for it would hang the run for good
                                       (signal.SIGSTOP, r"is stopped \(SIGSTOP\?\) and cannot answer")])
def test_a_killed_or_stopped_worker_is_one_line_and_the_checkpoint_stays(tmp_path, names300, sig, says):
    run_dir = str(tmp_path / "run")
    proc = start(names300, run_dir)
    try:
        wait_for_step(run_dir, 5, proc)
        (worker,) = children(proc.pid)
        os.kill(worker, sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    lines = [line for line in err.decode().splitlines() if not line.startswith("warning: ")]  # cost.py's
    assert proc.returncode == 1 and len(lines) == 1, err
    m = re.match(r"python -m microgpt: error: worker process 1 \(pid %d\) %s during step \d+ of 100000; "
                 r"stopped without saving: the last good checkpoint, step (\d+), is in (\S+)$" % (worker, says),
                 lines[0])
    assert m, lines[0]
    assert checkpoint.load(m.group(2)).step == int(m.group(1)) >= 3
    assert not os.path.exists("/proc/%d" % worker) or open("/proc/%d/stat" % worker).read().split()[2] == "Z"


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs process groups")
def test_ctrl_c_reaching_every_process_saves_once_and_resumes_exactly(tmp_path, names300):
    run_dir = str(tmp_path / "run")
    proc = start(names300, run_dir)
    try:
        wait_for_step(run_dir, 4, proc)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C does: the whole process group
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    # after cost.py's warning that 100000 steps take hours
    assert re.search(r"^python -m microgpt: interrupted at step (\d+) of 100000; checkpoint saved", err.decode(), re.M)
    stopped = checkpoint.load(os.path.join(run_dir, "checkpoint.json")).step
    # it goes on from there, with any number of workers, to the same bits
    copy = str(tmp_path / "copy")
    shutil.copytree(run_dir, copy)
    for folder, n in ((run_dir, "2"), (copy, "1")):
        assert main(["--resume", folder, "--steps", str(stopped + 3), "--workers", n, "--quiet", "--num-samples",
                     "0"]) == 0
    assert numbers(run_dir) == numbers(copy) and numbers(copy)["step"] == stopped + 3


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the workers through /proc")
def test_workers_end_when_the_main_process_is_killed(tmp_path, names300):
    # kill -9 leaves no one to say "stop": each worker must notice on its own, not linger as an orphan
    proc = start(names300, str(tmp_path / "run"), "--workers", "3", "--batch-size", "48")
    try:
        wait_for_step(str(tmp_path / "run"), 2, proc)
        kids = children(proc.pid)
        assert len(kids) == 2
    finally:
        proc.kill()
        proc.wait()
    deadline = time.time() + 15
    while time.time() < deadline and any(alive(pid) for pid in kids):
        time.sleep(0.1)
    assert not any(alive(pid) for pid in kids)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
