"""The command line: `microgpt [train] [flags]`. It fills a config and calls the library; no logic here.

Errors the user can fix come back as MicroGPTError and are printed as one line on stderr (exit 1); a bad
flag is one line too (exit 2). Anything else is a bug and raises with its traceback.
"""

import argparse
import sys

from . import __version__
from .errors import MicroGPTError
from .train import ENGINES, OPTIMIZERS, TrainConfig, train

PROG = "microgpt"
COMMANDS = ("train", "bench")


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print usage and exit; we want one line and a code
        raise UsageError("%s (see %s --help)" % (message, self.prog))


def number(kind, low=None, high=None, low_open=False):
    """argparse type: a number of `kind` within [low, high] (or (low, high] with low_open)."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a %s" % (text, "whole number" if kind is int else "number"))
        if value != value or (low is not None and (value <= low if low_open else value < low)) \
                or (high is not None and value > high):
            bounds = "%s %s" % ("above" if low_open else "at least", low) if high is None else \
                "between %s and %s" % (low, high)
            raise argparse.ArgumentTypeError("%s is out of range: must be %s" % (text, bounds))
        return value
    return parse


def add_train(sub):
    d = TrainConfig()
    p = sub.add_parser("train", help="train a model and print samples (the default command)",
                       description="Train a GPT on a text file (one document per line) and print samples.")
    p.add_argument("--data", metavar="FILE", default=d.data,
                   help="UTF-8 text file, one document per line (default: the names dataset, downloaded once)")
    g = p.add_argument_group("model")
    g.add_argument("--n-layer", type=number(int, 1), default=d.n_layer, help="transformer blocks (default %(default)s)")
    g.add_argument("--n-embd", type=number(int, 1), default=d.n_embd, help="embedding width (default %(default)s)")
    g.add_argument("--n-head", type=number(int, 1), default=d.n_head,
                   help="attention heads; must divide --n-embd (default %(default)s)")
    g.add_argument("--block-size", type=number(int, 2), default=d.block_size,
                   help="context length in tokens (default %(default)s)")
    g = p.add_argument_group("training")
    g.add_argument("--steps", type=number(int, 1), default=d.steps, help="optimizer steps (default %(default)s)")
    g.add_argument("--batch-size", type=number(int, 1), default=d.batch_size,
                   help="documents per step (default %(default)s)")
    g.add_argument("--lr", type=number(float, 0, low_open=True), default=d.lr,
                   help="learning rate, decayed linearly to 0 (default %(default)s)")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="(default %(default)s)")
    g.add_argument("--val-fraction", type=number(float, 0, 0.99), default=d.val_fraction,
                   help="share of documents held out from training (default %(default)s)")
    g.add_argument("--engine", choices=sorted(ENGINES), default=d.engine,
                   help="fast (default) or scalar: the same numbers, the scalar one ~100x slower")
    g.add_argument("--seed", type=int, default=d.seed, help="random seed (default %(default)s)")
    g.add_argument("--log-every", type=number(int, 1), default=d.log_every,
                   help="print the loss every N steps (default %(default)s)")
    g.add_argument("--quiet", action="store_true", help="no live progress line on stderr")
    g = p.add_argument_group("sampling after training")
    g.add_argument("--temperature", type=number(float, 0), default=d.temperature,
                   help="softmax temperature; 0 always takes the likeliest token (default %(default)s)")
    g.add_argument("--num-samples", type=number(int, 0), default=d.num_samples,
                   help="how many documents to write (default %(default)s)")
    p.set_defaults(func=cmd_train)


def cmd_train(args):
    names = {f for f in TrainConfig.__dataclass_fields__}
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in names})
    train(cfg)
    return 0


def add_bench(sub):
    from . import bench
    p = sub.add_parser("bench", help="time both engines on the default training run",
                       description="Benchmark the fast and scalar engines on the same training run.")
    bench.add_arguments(p)
    p.set_defaults(func=bench.run)


def make_parser(prog=PROG):
    parser = Parser(prog=prog, description="MicroGPT: a GPT that trains and samples in pure Python.")
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    add_train(sub)
    add_bench(sub)
    return parser


def main(argv=None, prog=PROG):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv = ["train"] + argv  # `microgpt` alone, or with only flags, trains
    parser = make_parser(prog)
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except UsageError as e:
        print("%s: error: %s" % (prog, e), file=sys.stderr)
        return 2
    except MicroGPTError as e:
        print("%s: error: %s" % (prog, e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("%s: interrupted" % prog, file=sys.stderr)
        return 130
    except SystemExit as e:  # --help and --version
        return e.code if isinstance(e.code, int) else 0
