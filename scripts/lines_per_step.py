"""How much code one training step runs: the source lines executed, file by file, measured by a trace.

    python scripts/lines_per_step.py [--data FILE] [--plain] [--engine fast|scalar]

It builds the default run as `python -m microgpt` does (the same data, seed, model, optimizer and
Compute) and traces its first step, the book's train.loop, with sys.settrace. The same step has run
once before, untraced, so that the kernels it needs are already generated and compiled: a run does
that once per size, not at every step. A line counts once however often it runs. Lines are counted by
statement: a statement that ran counts with every line it spans (blank and comment lines left out), so
that the figures do not depend on which lines of a long statement an interpreter happens to report.

The package's files are named by their path under microgpt/; the code the fast engine generates per
size on CPython (speed/kernels.py) is one entry, "<generated kernels>", counted by its own lines, with
the number of calls into it and of generated functions (files) it ran. --plain runs the plain loops of
speed/loops.py instead (MICROGPT_KERNELS=0): the path a reader follows, with no generated code.
--engine scalar counts the scalar engine, the step made of autograd Values.

The documentation quotes this script's output (tests/test_package.py checks that it still does).
"""

import argparse
import ast
import collections
import contextlib
import linecache
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from microgpt import model, optim, train  # noqa: E402
from microgpt.config import TrainConfig  # noqa: E402
from microgpt.errors import MicroGPTError  # noqa: E402
from microgpt.speed import engine  # noqa: E402
from microgpt.tool import download, files, training  # noqa: E402

PACKAGE = os.path.join(ROOT, "microgpt") + os.sep
KERNEL_FILE = "<microgpt kernel "  # the start of every generated kernel's file name (kernels.define)
GENERATED = "<generated kernels>"

# files: [(path under microgpt/, lines)] in the order met, lines: their sum; then the generated kernels'
Count = collections.namedtuple("Count", "files lines generated calls kernels")


@contextlib.contextmanager
def plain_loops(plain):
    """MICROGPT_KERNELS=0 for the duration when `plain` (the fast engine then takes the plain loops), else
    unset (its default: the kernels on CPython), whatever the environment says."""
    old = os.environ.pop("MICROGPT_KERNELS", None)
    if plain:
        os.environ["MICROGPT_KERNELS"] = "0"
    engine.default_math.cache_clear()  # it reads the switch once, and may have read it before
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MICROGPT_KERNELS", None)
        else:
            os.environ["MICROGPT_KERNELS"] = old
        engine.default_math.cache_clear()


def build_run(data, engine_name):
    """(cfg, dataset, compute) of the default run on `data`, built as tool/training.py's train() builds it."""
    cfg = TrainConfig(data=data, engine=engine_name)
    rng = random.Random(cfg.seed)
    dataset = files.read_dataset(data, rng, cfg.val_fraction)
    gpt = model.GPT(cfg.model_config(dataset.tokenizer.vocab_size), rng)
    optimizer = optim.make_optimizer(cfg.optimizer, gpt.num_params, cfg.beta1, cfg.beta2, cfg.eps)
    return cfg, dataset, training.make_compute(cfg, gpt, optimizer)


def one_step(cfg, dataset, compute):
    """The book's loop (train.py), stopped after its first step."""
    asked = []
    train.loop(cfg, dataset, compute, 0, after_step=lambda step, loss, batch: None,
               stop=lambda: asked.append(1) or len(asked) > 1)


def trace_step(data, engine_name="fast", plain=False):
    """({file name: set of line numbers}, calls into generated kernels) of the first step of the default
    run on `data`. A first, untraced run of the same step has built the kernels that step needs."""
    seen, calls = collections.defaultdict(set), [0]

    def tracer(frame, event, arg):
        name = frame.f_code.co_filename
        if name.startswith(KERNEL_FILE):
            calls[0] += event == "call"
        elif not name.startswith(PACKAGE):
            return None  # not ours: no line events from inside it
        if event == "line":
            seen[name].add(frame.f_lineno)
        return tracer

    with plain_loops(plain):
        one_step(*build_run(data, engine_name))
        run = build_run(data, engine_name)
        sys.settrace(tracer)
        try:
            one_step(*run)
        finally:
            sys.settrace(None)
    return seen, calls[0]


def statement_lines(source):
    """{line: the lines of the innermost statement holding it} for a module's source, blank and comment
    lines left out. A compound statement (if, for, while, try, with, def) owns its header only."""
    text = source.splitlines()
    owner = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.stmt):
            continue
        body = getattr(node, "body", None)
        end = body[0].lineno - 1 if isinstance(body, list) and body else node.end_lineno
        lines = frozenset(i for i in range(node.lineno, end + 1)
                          if text[i - 1].strip() and not text[i - 1].strip().startswith("#"))
        for i in lines:
            if i not in owner or len(lines) < len(owner[i]):
                owner[i] = lines
    return owner


def executed(name, lines):
    """The source lines of the statements that ran, from the lines the trace reported in file `name`."""
    owner = statement_lines("".join(linecache.getlines(name)))
    return set().union(*(owner.get(i, {i}) for i in lines))


def count(data, engine_name="fast", plain=False):
    """The Count of one training step: each package file (its path under microgpt/) with the number of its
    lines that ran, in the order the step first reached them; the generated kernels' lines apart."""
    seen, calls = trace_step(data, engine_name, plain)
    files, generated, kernels = [], 0, 0
    for name, lines in seen.items():  # a dict keeps the order in which the trace met the files
        n = len(executed(name, lines))
        if name.startswith(KERNEL_FILE):
            generated, kernels = generated + n, kernels + 1
        else:
            files.append((os.path.relpath(name, PACKAGE).replace(os.sep, "/"), n))
    return Count(files, sum(n for _, n in files), generated, calls, kernels)


def report(c, engine_name, plain):
    how = "the %s engine" % engine_name
    if engine_name == "fast":
        how += ", plain loops (MICROGPT_KERNELS=0)" if plain else ", generated kernels (the default on CPython)"
    out = ["one training step of the default run, %s:" % how]
    out += ["  %-20s %5d" % (name, n) for name, n in c.files]
    if c.kernels:
        out.append("  %-20s %5d  (%d calls into %d generated functions)" % (GENERATED, c.generated, c.calls,
                                                                           c.kernels))
        out.append("  %-20s %5d lines: %d in %d files of the package, %d generated"
                   % ("total", c.lines + c.generated, c.lines, len(c.files), c.generated))
    else:
        out.append("  %-20s %5d lines in %d files" % ("total", c.lines, len(c.files)))
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="the text file to train on (default: the names dataset, as the tool finds it)")
    p.add_argument("--plain", action="store_true", help="the plain loops (MICROGPT_KERNELS=0), not the kernels")
    p.add_argument("--engine", choices=("fast", "scalar"), default="fast")
    args = p.parse_args(argv)
    try:
        data = args.data or download.ensure_names(stream=sys.stderr)
        print(report(count(data, args.engine, args.plain), args.engine, args.plain))
    except MicroGPTError as e:  # no data, or data the default run refuses: as the tool says it
        sys.exit("lines_per_step.py: error: %s" % e)


if __name__ == "__main__":
    main()
