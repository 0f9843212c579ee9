"""`microgpt bench --compare`: the same training work on every engine and interpreter this machine has.

Two pieces of work, each timed the same way on each of them:
- the default run (1 layer, 16 wide, one name per step), its first --steps steps, against the textbook:
  the one-file microgpt.py, whose time is extrapolated by tokens from its first --textbook-steps steps;
- a batch of 32 names on 2 layers 32 wide, its first few steps, against the fast engine on this Python:
  where --fast-math and PyPy pay off, and where pure Python stops.

What runs: the fast engine on this Python (and with --fast-math where it has math.sumprod), on each
--python interpreter given (e.g. python3.12), on PyPy if `pypy3` is on the PATH, and the torch engine
in float64 and float32 if torch is installed. Each runs in a process of its own (PYTHONPATH at the
repository root), which times its steps 2..N and prints its figures as one line of JSON; step 1 is
start-up (the kernels generated, torch's first call), left out everywhere, the textbook's too. PyPy's
figure includes its JIT's warm-up. The time is each process's own CPU time (the textbook's read from
/proc on Linux, else its wall time): on a shared machine, the waits for a core that other work holds
do not count. The rounds interleave (each row once per round, 3 rounds), so that a machine that slows
down for a while slows every row alike; each figure is the median of its rounds, and each ratio is the
ratio of two printed medians. "loss diff" is the largest difference from the fast engine's losses on the
same steps: 0 where the arithmetic is the same to the bit.
"""

import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from ..config import TrainConfig
from ..errors import MicroGPTError
from ..train import get_lr
from . import bench, download

# (name, config settings, steps (None: --steps), steps with --quick): the two pieces of work
WORKS = (("the default run (1 layer, 16 wide, batch 1)", {}, None, 20),
         ("batch 32, 2 layers, 32 wide", dict(n_layer=2, n_embd=32, batch_size=32), 8, 2))
ENGINE_SETTINGS = {"fast": {}, "fast --fast-math": dict(fast_math=True),
                   "torch float64": dict(engine="torch", dtype="float64"),
                   "torch float32": dict(engine="torch", dtype="float32")}
CHILD = "import sys; from microgpt.tool import compare; compare.child(sys.argv[1])"


# --------------------------------------------------------------------------------------------------
# in the child process: one interpreter's engines, on each piece of work

def child(spec):
    """Run what `spec` (JSON) asks for: each engine of spec["engines"] on each piece of work, one after the
    other, each printing one line of JSON (see figures)."""
    spec = json.loads(spec)
    for work, steps in spec["works"]:
        for engine in spec["engines"]:
            print(json.dumps(figures(spec["data"], work, engine, steps)), flush=True)


def figures(data, work, engine, steps):
    """The first `steps` steps of a fresh run of `work` on `engine`: the interpreter, the CPU seconds and
    the predicted tokens of steps 2..steps, the losses of all of them, where torch computed."""
    from .training import make_compute
    cfg = TrainConfig(data=data, quiet=True, **work, **ENGINE_SETTINGS[engine]).validate()
    cfg.steps = max(cfg.steps, steps)  # the default run's schedule, or a longer one if more steps are asked
    run = bench.Run(cfg)
    model, optimizer = run.fresh()
    compute = make_compute(cfg, model, optimizer)
    losses, times = [], []
    try:
        for step in range(steps):
            losses.append(compute.train(run.batches[step], get_lr(cfg, step)))
            times.append(time.process_time())
    finally:
        compute.close()
    where = compute.describe().replace("engine: ", "") if hasattr(compute, "describe") else ""
    return {"interpreter": bench.interpreter(), "where": where, "seconds": times[-1] - times[0],
            "tokens": sum(run.tokens[1:steps]), "losses": losses}


def in_child(python, spec):
    """child(spec) run under `python`: its figures, a list per piece of work of one per engine."""
    env = dict(os.environ, PYTHONPATH=bench.ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([python, "-c", CHILD, json.dumps(spec)], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or len(lines) != len(spec["works"]) * len(spec["engines"]):
        said = (proc.stderr.strip().splitlines() or ["exit code %d" % proc.returncode])[-1]
        raise MicroGPTError("bench --compare: %s failed: %s" % (python, said))
    done = [json.loads(line) for line in lines]
    n = len(spec["engines"])
    return [done[w * n:(w + 1) * n] for w in range(len(spec["works"]))]


# --------------------------------------------------------------------------------------------------
# in the main process: what there is, the rounds, the tables

def has(python, code):
    """Whether `python -c code` succeeds: its version, math.sumprod."""
    try:
        return subprocess.run([python, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def contenders(pythons):
    """[(python, its engines)]: this Python first, whose fast engine is the batch-32 table's yardstick."""
    found, seen = [], set()
    pypy = shutil.which("pypy3")
    for python in [sys.executable] + list(pythons) + ([pypy] if pypy else []):
        if shutil.which(python) is None:
            raise MicroGPTError("bench --compare: --python %s: no such program" % python)
        if os.path.realpath(shutil.which(python)) in seen:  # given twice, or pypy3 given as --python
            continue
        seen.add(os.path.realpath(shutil.which(python)))
        if not has(python, "import sys; assert sys.version_info >= (3, 7)"):
            raise MicroGPTError("bench --compare: %s is not a Python 3.7 or later, which MicroGPT needs" % python)
        engines = ["fast"] + ["fast --fast-math"] * has(python, "import math; math.sumprod")
        if python == sys.executable and importlib.util.find_spec("torch"):  # (found, not imported: seconds)
            engines += ["torch float64", "torch float32"]
        found.append((python, engines))
    return found


def rounds(say, data, found, works, textbook_steps, n):
    """[{row: [figures of each round]}] for each piece of work, a row being "textbook" (the first piece's
    first, if textbook_steps) or (python, engine); n rounds, in each the textbook and then each interpreter
    once, in turn."""
    runs = [{} for _ in works]
    if textbook_steps:
        runs[0]["textbook"] = []
        replay = bench.Run(TrainConfig(data=data, quiet=True).validate())
    for python, engines in found:
        for w in range(len(works)):
            runs[w].update(((python, engine), []) for engine in engines)
    for i in range(n):
        say("round %d of %d ..." % (i + 1, n))
        if textbook_steps:
            losses, whole = bench.time_textbook(data, textbook_steps, replay.tokens, cpu=True)
            where = "microgpt.py, steps 2..%d timed, the rest extrapolated by tokens" % max(2, textbook_steps)
            runs[0]["textbook"].append({"interpreter": bench.interpreter(), "where": where, "losses": losses,
                                        "seconds": whole, "tokens": sum(replay.tokens)})
        for python, engines in found:
            spec = {"data": data, "works": works, "engines": engines}
            for w, per_engine in enumerate(in_child(python, spec)):
                for engine, figures_ in zip(engines, per_engine):
                    runs[w][(python, engine)].append(figures_)
    return runs


def table(say, title, runs, fast):
    """The rows' medians, each ratio to the textbook's (or, without it, to the `fast` row's) as the two
    printed medians divided; the losses are compared with the `fast` row's."""
    base = "textbook" if "textbook" in runs else fast
    label = "x textbook" if base == "textbook" else "x fast"
    say(title)
    say("%-18s %-26s %10s %10s %16s" % ("engine", "interpreter", "tokens/s", label, "loss diff"))
    rates = {row: round(statistics.median(r["tokens"] / r["seconds"] for r in figures), 1)
             for row, figures in runs.items()}
    notes = []
    for row, figures in runs.items():
        name = "textbook" if row == "textbook" else row[1]
        losses, yardstick = figures[0]["losses"], runs[fast][0]["losses"]
        if row == "textbook":  # microgpt.py prints its losses with 4 decimals
            same = sum("%.4f" % a == "%.4f" % b for a, b in zip(losses, yardstick))
            diff = "%d/%d as printed" % (same, len(losses))
        else:
            diff = "%.1e" % max(abs(a - b) for a, b in zip(losses, yardstick))
        say("%-18s %-26s %10.1f %9.2fx %16s" % (name, figures[0]["interpreter"], rates[row], rates[row] / rates[base],
                                                diff))
        if figures[0]["where"]:
            notes.append("%s: %s" % (name, figures[0]["where"]))
    for note in notes:
        say(note)
    say()


def run(args, out=None):
    def say(line=""):
        print(line, file=out or sys.stdout, flush=True)

    data = os.path.abspath(download.resolve(args.data or "", stream=sys.stderr))
    n = 1 if args.quick else 3
    found = contenders(args.python or [])
    default_run = args.steps or bench.COMPARE_STEPS
    works = [(work, quick if args.quick else steps or default_run) for _, work, steps, quick in WORKS]
    textbook_steps = bench.textbook_file() and (3 if args.quick else args.textbook_steps)
    bench.header(say)
    say("tokens/s: predicted tokens over each process's own CPU seconds (the textbook's from /proc, else wall)")
    for python, engines in found:
        say("%s: %s" % (python, ", ".join(engines)))
    say()
    runs = rounds(say, data, found, works, textbook_steps, n)
    say()
    fast = (sys.executable, "fast")
    for (title, _, _, _), (_, steps), per_row in zip(WORKS, works, runs):
        table(say, "%s: steps 2..%d, median of %d round%s" % (title, steps, n, "s" * (n > 1)), per_row, fast)
    if not textbook_steps:
        say("textbook: no microgpt.py beside the package (a checkout of the repository has it); left out")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    say("load average %.2f at the end" % load)
    return 0
