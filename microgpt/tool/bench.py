"""Benchmark: the fast and the scalar engine on the same training run, timed.

It replays the default training run (the same documents, weights and learning-rate schedule as
`microgpt train`) and times its steps only: forward, backward and the Adam update. Reading the data,
held-out evaluation, checkpoints and sampling are left out; they are the same for both engines.

By default the fast and the scalar engine run every step (~2 s and ~20 s). "textbook" is the one-file
microgpt.py at the repository root, the book in one sitting, run as a user runs it (`python microgpt.py`
in a folder holding the data as input.txt): the baseline both engines are measured against. Its first 20
steps are timed from the lines it prints, and its time for the whole run is extrapolated by tokens (its
time per predicted token times the run's tokens), and says so. --full runs every step on every engine.
An installed package has no microgpt.py beside it: the textbook is then left out, and says so.

Cost per predicted token, forward (C = n_embd, L = n_layer, V = vocab_size, t = position):
12*L*C^2 multiply-adds in the linears (q, k, v, o: 4*C^2; fc1 and fc2: 2*4*C^2), V*C in lm_head, and
2*L*C*(t+1) in attention (scores, then the weighted sum of values). Training does it three times over:
the forward, the input gradients and the weight gradients. "ns/mult-add" divides the time by that.
"""

import argparse
import os
import platform
import random
import re
import statistics
import sys
import time

from .. import data, scalar_engine
from ..config import TrainConfig
from ..errors import MicroGPTError
from ..model import GPT
from ..optim import make_optimizer
from ..speed import engine
from ..train import get_lr, train_step
from . import download
from .cost import forward_macs  # the cost model: multiply-adds of a forward pass
from .files import read_dataset
from .flags import add_torch_arguments, number, path, workers_count
from .training import make_compute

# --------------------------------------------------------------------------------------------------
# the baseline: the one-file microgpt.py at the repository root, the book in one sitting

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # beside the package
STEP_LINE = re.compile(r"step +(\d+) / +\d+ \| loss (\d+\.\d+)")


def textbook_file():
    """The root microgpt.py beside the package (a checkout has it; an installed package does not)."""
    path = os.path.join(ROOT, "microgpt.py")
    return path if os.path.isfile(path) else None


def time_textbook(data_path, steps, tokens, cpu=False):
    """`python microgpt.py` in a fresh folder holding the data as input.txt, stopped after `steps` steps
    (at least 2): (its printed losses, the seconds its whole run would take, extrapolated by tokens).

    Steps 2..steps are timed, from the line of step 1 to the line of the last: start-up (reading the data,
    drawing the weights) is not training. `tokens` are the run's predicted tokens per step. With `cpu`,
    the seconds are its process's CPU time where the system shows it (Linux) in ticks of ~10 ms, so where
    there are enough of them to count (a tenth of a second), else wall time."""
    import shutil
    import subprocess
    import tempfile
    steps = max(2, min(steps, len(tokens)))
    losses, times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copyfile(data_path, os.path.join(tmp, "input.txt"))
        proc = subprocess.Popen([sys.executable, textbook_file()], cwd=tmp, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, universal_newlines=True,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))
        try:
            for line in proc.stdout:
                m = STEP_LINE.fullmatch(line.strip())
                if m:
                    times.append((time.perf_counter(), cpu_seconds(proc.pid) if cpu else None))
                    losses.append(float(m.group(2)))
                    if len(losses) == steps:
                        break
        finally:
            proc.kill()
            proc.wait()
    if len(losses) < steps:
        raise MicroGPTError("microgpt.py stopped after %d of the %d steps to time" % (len(losses), steps))
    (wall0, cpu0), (wall1, cpu1) = times[0], times[-1]
    counted = cpu0 is not None and cpu1 is not None and cpu1 - cpu0 >= 0.1
    seconds = cpu1 - cpu0 if counted else wall1 - wall0
    return losses, seconds * sum(tokens) / sum(tokens[1:steps])


def cpu_seconds(pid):
    """The user and system CPU seconds of process `pid` so far, from /proc (Linux); None elsewhere."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14, 15
    except (OSError, ValueError, IndexError, AttributeError):
        return None


ENGINES = (("fast", engine.loss_and_grad), ("scalar", scalar_engine.loss_and_grad))


# --------------------------------------------------------------------------------------------------
# the run

class Run:
    """A training run's documents, initial weights and schedule, ready to be replayed."""

    def __init__(self, cfg, dataset=None):
        rng = random.Random(cfg.seed)
        if dataset is None:  # steps are timed, never evaluated: a file too small to hold any out is fine
            dataset = read_dataset(download.resolve(cfg.data, stream=sys.stderr), rng, cfg.val_fraction,
                                   need_held_out=False, format="text" if cfg.format == "text" else "lines",
                                   block_size=cfg.block_size)
        self.model_config = cfg.model_config(dataset.tokenizer.vocab_size)
        self.init_state = rng.getstate()  # the weights are drawn from here, as train.py does
        self.cfg = cfg
        if dataset.format == "text":  # windows at places drawn after the weights, from the same stream
            draw = random.Random()
            draw.setstate(self.init_state)
            GPT(self.model_config, draw)
            self.batches = [dataset.batch(s, cfg.batch_size, draw) for s in range(cfg.steps)]
        else:
            frame = dataset.tokenizer.frame
            self.batches = [[frame(d) for d in data.batch_docs(dataset.train_docs, s, cfg.batch_size)]
                            for s in range(cfg.steps)]
        positions = self.model_config.predictions
        self.tokens = [sum(positions(d) for d in batch) for batch in self.batches]
        self.macs = [3 * sum(forward_macs(self.model_config, positions(d)) for d in batch)
                     for batch in self.batches]

    def fresh(self):
        rng = random.Random()
        rng.setstate(self.init_state)
        model = GPT(self.model_config, rng)
        cfg = self.cfg
        return model, make_optimizer(cfg.optimizer, model.num_params, cfg.beta1, cfg.beta2, cfg.eps)

    def train(self, loss_and_grad, steps):
        """Train a fresh model for the first `steps` steps: (losses, wall seconds, CPU seconds)."""
        model, optimizer = self.fresh()
        losses = []
        wall, cpu = time.perf_counter(), time.process_time()
        for step in range(steps):
            losses.append(train_step(model, optimizer, loss_and_grad, self.batches[step], get_lr(self.cfg, step)))
        return losses, time.perf_counter() - wall, time.process_time() - cpu

    def train_as_run(self, budget):
        """Steps of a fresh model as `microgpt train` takes them (shards, workers), for about `budget`
        seconds of wall time: (steps, wall seconds). Worker processes start before the clock does."""
        model, optimizer = self.fresh()
        compute = make_compute(self.cfg, model, optimizer)
        try:
            step, start = 0, time.perf_counter()
            while step < self.cfg.steps and (step < 2 or time.perf_counter() - start < budget):
                compute.train(self.batches[step], get_lr(self.cfg, step))
                step += 1
            return step, time.perf_counter() - start
        finally:
            compute.close()


# --------------------------------------------------------------------------------------------------
# batch-32 training: how cost scales with the model, with the workers and with the vocabulary

SIZES = ((1, 16, 4), (2, 32, 4), (4, 64, 4))  # (n_layer, n_embd, n_head) of the scaling table


def timed(cfg, budget, dataset=None, r=None):
    """(tokens/s, ns per multiply-add, steps) of `cfg` trained as `microgpt train` does, ~budget seconds
    (r: its Run, if already made)."""
    r = r or Run(cfg, dataset)
    steps, wall = r.train_as_run(budget)
    return sum(r.tokens[:steps]) / wall, wall / sum(r.macs[:steps]) * 1e9, steps


def row(say, label, cfg, result, base=None):
    tps, ns, steps = result
    say("%-34s %6d %9.0f %12.1f%s" % (label, steps, tps, ns, "" if base is None else "  %6.2fx" % (tps / base)))


def scaling(say, data_path, budget, workers):
    say("%-34s %6s %9s %12s" % ("batch 32, model", "steps", "tokens/s", "ns/mult-add"))
    for L, C, H in SIZES:
        cfg = TrainConfig(data=data_path, n_layer=L, n_embd=C, n_head=H, batch_size=32, workers=workers)
        row(say, "%dL/%dE (%d worker%s)" % (L, C, workers, "s" * (workers > 1)), cfg, timed(cfg, budget))


def worker_scaling(say, data_path, budget, n):
    """The same work with 1 and n workers: the speed-up, and how much of each added core it uses."""
    say("%-34s %6s %9s %12s %8s" % ("2L/32E batch 32, workers", "steps", "tokens/s", "ns/mult-add", "speed-up"))
    base = None
    for workers in sorted({1, n}):
        cfg = TrainConfig(data=data_path, n_layer=2, n_embd=32, batch_size=32, workers=workers)
        result = timed(cfg, budget)
        base = base or result[0]
        row(say, "%d worker%s" % (workers, "s" * (workers > 1)), cfg, result, base)
    if n > 1:
        say("efficiency per core with %d workers: %.0f%%" % (n, 100 * result[0] / base / n))


def large_vocabulary(say, budget, workers):
    """A 2,500-character vocabulary, as Chinese text gives: the cost moves to lm_head, softmax and Adam."""
    import tempfile
    rng = random.Random(0)
    chars = [chr(0x4E00 + i) for i in range(2500)]
    docs = [c + "".join(rng.choice(chars) for _ in range(rng.randint(1, 2))) for c in chars * 8]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "chinese.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(docs) + "\n")
        say("%-34s %6s %9s %12s" % ("vocabulary 2,501, 1L/16E", "steps", "tokens/s", "ns/mult-add"))
        for batch in (1, 32):
            cfg = TrainConfig(data=path, batch_size=batch, workers=workers)
            dataset = read_dataset(path, random.Random(cfg.seed), cfg.val_fraction)
            row(say, "batch %d" % batch, cfg, timed(cfg, budget, dataset))


# (n_layer, n_embd, tokens a step) of the text-mode table, and its block sizes
TEXT_SIZES = ((1, 32, 1024), (2, 64, 256))
TEXT_BLOCKS = (32, 64, 128, 256)


def text_blocks(say, data_path, budget, workers):
    """Text mode (the file read as one text, windows of block_size + 1 tokens) at growing block sizes, the
    same tokens in each step: the linears' work stays, attention's grows with T (its share of the
    multiply-adds is shown). A step near the floor costs the same per multiply-add at every T."""
    say("%-34s %6s %9s %12s" % ("text mode, the same tokens a step", "steps", "tokens/s", "ns/mult-add"))
    for L, C, tokens in TEXT_SIZES:
        for T in TEXT_BLOCKS:
            cfg = TrainConfig(data=data_path, format="text", n_layer=L, n_embd=C, block_size=T,
                              batch_size=max(1, tokens // T), workers=workers)
            r = Run(cfg)
            attention = L * C * T * (T + 1) / forward_macs(r.model_config, T)  # (see cost.forward_macs)
            row(say, "%dL/%dE block %3d x%2d, attn %2.0f%%" % (L, C, T, cfg.batch_size, 100 * attention), cfg,
                timed(cfg, budget, r=r))


def machine():
    name = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %s cores" % (name, os.cpu_count())


def interpreter():
    impl = platform.python_implementation()
    version = platform.python_version()
    if impl == "PyPy":
        pypy = sys.pypy_version_info
        version += " (PyPy %d.%d.%d)" % (pypy.major, pypy.minor, pypy.micro)
    return "%s %s" % (impl, version)


# --------------------------------------------------------------------------------------------------
# command line

MAX_STEPS = 100000  # a run's batches are made up front (Run): 100x the default run's, in a few MB
COMPARE_STEPS = 300  # --compare: the default run's steps each engine times (the whole compare in ~1-2 minutes)


def add_arguments(parser):
    parser.add_argument("--data", metavar="FILE", default=None, type=path("data file"),
                        help="text file, one document per line (default: the names dataset)")
    parser.add_argument("--steps", type=number(int, 1, MAX_STEPS), default=None,
                        help="length of the training run, all timed on the fast engine (default 1000); with "
                             "--compare, the default run's first steps timed on each engine (default %d)"
                             % COMPARE_STEPS)
    parser.add_argument("--scalar-steps", type=number(int, 1, MAX_STEPS), default=None,
                        help="steps timed on the scalar engine, the rest extrapolated (default: all)")
    parser.add_argument("--textbook-steps", type=number(int, 1, MAX_STEPS), default=20,
                        help="steps timed on the textbook baseline, the rest extrapolated (default 20)")
    parser.add_argument("--quick", action="store_true",
                        help="a short run: 100 fast steps, 10 scalar, 3 textbook")
    parser.add_argument("--full", action="store_true",
                        help="every step on every engine, nothing extrapolated (the textbook takes ~2 min)")
    parser.add_argument("--no-textbook", action="store_true", help="skip the textbook baseline")
    parser.add_argument("--scaling", action="store_true",
                        help="instead: batch-32 tokens/s for 1L/16E, 2L/32E, 4L/64E, workers 1 vs N, and a "
                             "2,500-character vocabulary")
    parser.add_argument("--whole-command", action="store_true",
                        help="instead: the whole default command (`microgpt --data FILE`, evaluations, saves and "
                             "samples included), three times, each followed by the textbook baseline's first steps")
    parser.add_argument("--compare", action="store_true",
                        help="instead: the same training steps on every engine and interpreter here (the one-file "
                             "microgpt.py, the fast engine, --fast-math where Python has math.sumprod, PyPy, torch "
                             "float64 and float32), interleaved in 3 rounds, with ratios (compare.py; 1-2 minutes)")
    parser.add_argument("--python", metavar="EXE", action="append", default=None,
                        help="with --compare: another Python to run the fast engine under too (e.g. python3.12, "
                             "which has math.sumprod); may be given more than once")
    parser.add_argument("--workers", metavar="N", type=workers_count, default=None,
                        help="with --scaling: the N of 'workers 1 vs N' (default: the usable cores)")
    parser.add_argument("--seconds", metavar="S", type=number(float, 0, 600, low_open=True), default=5.0,
                        help="with --scaling: seconds each figure is measured for (default %(default)s)")
    parser.add_argument("--engine", choices=("fast", "torch"), default="fast",
                        help="torch: time the torch engine against the fast one on models of 1 to 4 layers "
                             "(torch_bench.py); --data, --quick, --device and --dtype apply")
    add_torch_arguments(parser, "auto")


# What each kind of benchmark reads. A flag it would ignore is refused (exit 2), as is a pair of which
# one would silently override the other, rather than measuring something the user did not ask for.
KINDS = {"bench": ("data", "steps", "scalar_steps", "textbook_steps", "quick", "full", "no_textbook"),
         "bench --scaling": ("data", "quick", "workers", "seconds"),
         "bench --whole-command": ("data", "quick", "full", "textbook_steps"),
         "bench --engine torch": ("data", "quick", "device", "dtype"),
         "bench --compare": ("data", "quick", "steps", "textbook_steps", "python")}
OVERRIDES = (("quick", "full"), ("quick", "steps"), ("quick", "scalar_steps"), ("quick", "textbook_steps"),
             ("quick", "seconds"), ("full", "scalar_steps"), ("full", "textbook_steps"))


def flag(name):
    return "--" + name.replace("_", "-")


def kind(args):
    """The kind of benchmark `args` asks for (a key of KINDS), once its flags are known to agree."""
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    defaults = vars(parser.parse_args([]))
    given = [name for name in defaults if getattr(args, name, defaults[name]) != defaults[name]]
    modes = [name for name in ("scaling", "whole_command", "compare", "engine") if name in given]
    if len(modes) > 1:
        raise MicroGPTError("%s are different benchmarks; choose one" % " and ".join(
            "--engine torch" if m == "engine" else flag(m) for m in modes))
    which = "bench --engine torch" if modes == ["engine"] else "bench %s" % flag(modes[0]) if modes else "bench"
    for name in given:
        if name not in modes and name not in KINDS[which]:
            users = [k for k, takes in KINDS.items() if name in takes]
            raise MicroGPTError("%s does not use %s (%s do%s); it takes %s" % (
                which, flag(name), " and ".join(users), "es" * (len(users) == 1), ", ".join(map(flag, KINDS[which]))))
    for a, b in OVERRIDES:
        if a in given and b in given:
            raise MicroGPTError("%s and %s ask for different runs; give one of them" % (flag(a), flag(b)))
    return which


def run(args, out=None):
    out = out or sys.stdout
    args.data = args.data or ""  # the names dataset
    def say(line=""):
        print(line, file=out, flush=True)

    if args.scaling:
        return run_scaling(args, say)
    if args.whole_command:
        return run_whole_command(args, say)

    cfg = TrainConfig(data=args.data, steps=100 if args.quick else args.steps or 1000, quiet=True)
    want = {"fast": cfg.steps,
            "scalar": 10 if args.quick else args.scalar_steps or cfg.steps,
            "textbook": 3 if args.quick else args.textbook_steps}
    if args.full:
        want = {name: cfg.steps for name in want}
    if args.no_textbook:
        del want["textbook"]
    run_ = Run(cfg.validate())
    tokens, macs = sum(run_.tokens), sum(run_.macs)
    header(say)
    mc = run_.model_config
    say("model: n_layer=%d n_embd=%d n_head=%d block_size=%d vocab_size=%d | run: %d steps, %d tokens, "
        "%.1f M multiply-adds (3 x forward)" % (mc.n_layer, mc.n_embd, mc.n_head, mc.block_size,
                                                mc.vocab_size, cfg.steps, tokens, macs / 1e6))
    say()
    say("%-9s %6s %9s %9s %9s %10s %12s %13s" % ("engine", "steps", "seconds", "cpu s", "steps/s",
                                                  "tokens/s", "ns/mult-add", "s/whole run"))
    results = {}
    for name, loss_and_grad in ENGINES:
        if name not in want:
            continue
        steps = min(want[name], cfg.steps)
        losses, wall, cpu = run_.train(loss_and_grad, steps)
        results[name] = (losses, wall * tokens / sum(run_.tokens[:steps]))
        timing_row(say, name, steps, cfg.steps, wall, cpu, run_)
    if "textbook" in want:
        textbook(say, args, run_, min(want["textbook"], cfg.steps), results)
    say()
    compare(results, say)
    return 0


def timing_row(say, name, steps, total, wall, cpu, run_):
    done_tokens, done_macs = sum(run_.tokens[:steps]), sum(run_.macs[:steps])
    say("%-9s %6d %9.2f %9s %9.1f %10.0f %12.1f %12.1f%s"
        % (name, steps, wall, "-" if cpu is None else "%.2f" % cpu, steps / wall, done_tokens / wall,
           wall / done_macs * 1e9, wall * sum(run_.tokens) / done_tokens, "" if steps == total else " (extrapolated)"))


def textbook(say, args, run_, steps, results):
    """The one-file microgpt.py's first steps, if it is here and the run is its run (the default one)."""
    if textbook_file() is None:
        say("textbook: no microgpt.py beside the package (a checkout of the repository has it); left out")
        return
    losses, whole = time_textbook(download.resolve(args.data, stream=sys.stderr), steps, run_.tokens)
    # microgpt.py's schedule is that of 1000 steps: its losses are this run's only if this run is that long
    results["textbook"] = (losses if run_.cfg.steps == 1000 else [], whole)
    steps = max(2, steps)
    # its timed steps are 2..steps: the same figures for them
    wall = whole * sum(run_.tokens[1:steps]) / sum(run_.tokens)
    timing_row(say, "textbook", steps - 1, run_.cfg.steps, wall, None, run_)


def header(say):
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    say("interpreter: %s" % interpreter())
    say("machine: %s, load average %.2f at start" % (machine(), load))


def compare(results, say):
    """Speed-ups between the engines timed, and how far apart their losses are."""
    fast_time = results["fast"][1]
    for name in ("scalar", "textbook"):
        if name in results:
            say("fast engine speed-up over %s: %.0fx" % (name, results[name][1] / fast_time))
    if "scalar" in results and "textbook" in results:
        say("scalar engine speed-up over textbook: %.2fx" % (results["textbook"][1] / results["scalar"][1]))

    # the same numbers: losses agree to the last bit where the arithmetic is the same, and else to print;
    # the textbook's losses are what microgpt.py prints (4 decimals)
    fast = results["fast"][0]
    for name in ("scalar", "textbook"):
        if name not in results:
            continue
        other = results[name][0]
        n = len(other)
        if not n:
            continue
        printed = sum(1 for a, b in zip(fast, other) if "%.4f" % a == "%.4f" % b)
        if name == "textbook":
            say("losses, fast vs textbook (microgpt.py), first %d steps: %d of %d the same as printed (%%.4f)"
                % (n, printed, n))
            continue
        exact = sum(1 for a, b in zip(fast, other) if a == b)
        worst = max(abs(a - b) for a, b in zip(fast, other))
        say("losses, fast vs %s, first %d steps: %d identical to the bit, %d as printed (%%.4f), "
            "largest difference %.1e" % (name, n, exact, printed, worst))


def run_scaling(args, say):
    from ..speed.workers import usable_cores
    n = args.workers or usable_cores()
    budget = 1.0 if args.quick else args.seconds
    header(say)
    scaling(say, args.data, budget, 1)
    say()
    worker_scaling(say, args.data, budget, n)
    say()
    large_vocabulary(say, budget, 1)
    say()
    text_blocks(say, args.data, budget, 1)
    return 0


def run_whole_command(args, say):
    """The default command as a user runs it, in a fresh process each time, against the one-file
    microgpt.py's 1000 training steps (its start-up and sampling are left out, well under a second).

    The two alternate, one command then the textbook's first steps, three times over, and the ratio is
    the median of the three rounds' ratios: a shared core that slows down for a while then slows both
    sides of a round alike."""
    import subprocess
    import tempfile
    path = download.resolve(args.data, stream=sys.stderr)
    header(say)
    if textbook_file() is None:
        raise MicroGPTError("--whole-command times the one-file microgpt.py, which is not beside the package here "
                            "(a checkout of the repository has it)")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run_ = Run(TrainConfig(data=path, quiet=True).validate())
    steps = 1000 if args.full else 3 if args.quick else args.textbook_steps
    ours, textbook = [], []
    for _ in range(1 if args.quick else 3):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "microgpt", "--data", os.path.abspath(path), "--quiet"],
                                  cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            ours.append(time.perf_counter() - start)
        if done.returncode:  # the command refuses this file (too few documents to hold any out, ...): its words
            said = done.stderr.decode("utf-8", "replace").strip().splitlines() or ["exit %d" % done.returncode]
            raise MicroGPTError("--whole-command times `microgpt --data %s`, which failed: %s" % (
                path, said[-1].split(": error: ", 1)[-1].replace(os.path.abspath(path), path)))
        textbook.append(time_textbook(path, steps, run_.tokens)[1])
    say("the default command: %s s, median %.2f s" % (", ".join("%.2f" % t for t in ours), statistics.median(ours)))
    say("textbook (microgpt.py), 1000 steps: %s s, median %.1f s%s" % (
        ", ".join("%.1f" % t for t in textbook), statistics.median(textbook),
        "" if steps == 1000 else " (each extrapolated from %d steps)" % max(2, steps)))
    ratio = statistics.median(t / o for t, o in zip(textbook, ours))
    say("the default command is %.1fx faster than the one-file microgpt.py's training steps (median of the "
        "rounds' ratios)" % ratio)
    return 0
