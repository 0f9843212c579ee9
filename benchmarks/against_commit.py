"""Batch-32 training speed of this checkout against an older commit, measured side by side.

    python benchmarks/against_commit.py faaadb2 --data ../shared/data/names.txt

Checks the commit out into a temporary git worktree, then runs `microgpt train --batch-size 32` for a
few steps with each version in turn (the old one, this one with 1 worker, this one with 2), repeated and
interleaved so that a busy machine slows all of them alike, and prints tokens/s (from each run's
metrics.jsonl, the steps after the first) with medians and ratios. A benchmark, not a test: it prints
figures, it asserts nothing.

On a shared machine the speed of one core can drop by a third for seconds at a time, so small changes
drown in the noise of tokens/s. --instructions counts the CPU instructions instead (valgrind's
callgrind, which gives the same count for the same run whatever else the machine does): each version
runs `steps` steps and 1 step, and the difference is the cost of the steps after the first. It compares
one process only; what workers buy is a matter of wall time.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train_command(data, out, steps, model):
    return [sys.executable, "-m", "microgpt", "--data", data, "--out", out, "--overwrite", "--steps", str(steps),
            "--batch-size", "32", "--eval-every", "0", "--num-samples", "0", "--quiet", "--save-every", "0",
            "--val-fraction", "0", "--n-layer", str(model[0]), "--n-embd", str(model[1])]


def tokens_per_s(code, data, steps, workers, model, folder):
    out = os.path.join(folder, "run")
    cmd = train_command(data, out, steps, model)
    if workers:
        cmd += ["--workers", str(workers)]
    subprocess.run(cmd, cwd=folder, env=dict(os.environ, PYTHONPATH=code), check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f if '"tokens_per_s"' in line]
    return statistics.median(r["tokens_per_s"] for r in records[1:])  # the first step pays for the start


def instructions(code, data, steps, model, folder):
    """CPU instructions of the training steps after the first: a run of `steps` steps less a run of 1."""
    counts = []
    for n in (steps, 1):
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + os.devnull]
        cmd += train_command(data, os.path.join(folder, "run"), n, model)
        proc = subprocess.run(cmd, cwd=folder, env=dict(os.environ, PYTHONPATH=code), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, universal_newlines=True, check=True)
        counts.append(int(re.search(r"Collected : (\d+)", proc.stderr).group(1)))
    return counts[0] - counts[1]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("commit")
    p.add_argument("--data", required=True)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--model", default="1,16", help="n_layer,n_embd (default 1,16)")
    p.add_argument("--instructions", action="store_true",
                   help="count instructions under valgrind instead of timing (one process, repeated once)")
    args = p.parse_args()
    model = tuple(int(x) for x in args.model.split(","))
    data = os.path.abspath(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        old = os.path.join(tmp, "old")
        subprocess.run(["git", "-C", HERE, "worktree", "add", "--detach", "-q", old, args.commit], check=True)
        try:
            if args.instructions:
                return compare_instructions(args, old, data, model, tmp)
            variants = [("%s, 1 process" % args.commit, old, None), ("this checkout, 1 worker", HERE, 1),
                        ("this checkout, 2 workers", HERE, 2)]
            figures = {name: [] for name, _, _ in variants}
            for _ in range(args.repeat):
                for name, code, workers in variants:
                    figures[name].append(tokens_per_s(code, data, args.steps, workers, model, tmp))
        finally:
            subprocess.run(["git", "-C", HERE, "worktree", "remove", "--force", old], check=True)
    base = statistics.median(figures[variants[0][0]])
    print("batch 32, model %dL/%dE, %d steps, %d interleaved repeats; tokens/s" % (model + (args.steps, args.repeat)))
    for name, _, _ in variants:
        values = figures[name]
        print("%-28s median %7.0f  (%s)  %.2fx" % (name, statistics.median(values),
                                                   ", ".join("%.0f" % v for v in values),
                                                   statistics.median(values) / base))


def compare_instructions(args, old, data, model, folder):
    base = instructions(old, data, args.steps, model, folder)
    now = instructions(HERE, data, args.steps, model, folder)
    print("batch 32, model %dL/%dE, steps 2..%d; CPU instructions (callgrind)" % (model + (args.steps,)))
    print("%-28s %8.1f M per step" % ("%s, 1 process" % args.commit, base / (args.steps - 1) / 1e6))
    print("%-28s %8.1f M per step  %.3fx fewer" % ("this checkout, 1 worker", now / (args.steps - 1) / 1e6, base / now))


if __name__ == "__main__":
    main()
