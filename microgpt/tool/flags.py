"""The command line's argument types: numbers within bounds, paths, worker counts, and the flags that
several commands share. The commands themselves are cli.py's; bench.py takes these too.
"""

import argparse
import math
import os

from ..config import DEVICES, DTYPES, LIMITS, MIN_TEMPERATURE

# Caps on the whole numbers that are not a run's (a run's are config.LIMITS, which its checkpoint is read
# back with), so that every figure computed from them stays an ordinary float: counts (samples, ...) far
# beyond any use, sizes far beyond any machine (the cost check, cost.py, says at once what a size near the
# cap would cost). A message names a cap only to a number beyond it.
COUNT_CAP = 10 ** 12
SIZE_CAP = 10 ** 9
CAPS = (COUNT_CAP, SIZE_CAP) + tuple(LIMITS.values())


def shown(text, limit=40):
    return text if len(text) <= limit else text[:limit] + "..."


def number(kind, low=None, high=None, low_open=False):
    """argparse type: a finite number of `kind` within [low, high] (or (low, high] with low_open)."""
    def bounds():
        low_part = "%s %s" % ("above" if low_open else "at least", low)
        if high is None or high in CAPS:
            return low_part
        return "between %s and %s" % (low, high) if not low_open else "%s and at most %s" % (low_part, high)

    def parse(text):
        try:
            value = kind(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError("%r is not a %s" % (shown(text), "whole number" if kind is int
                                                                  else "number"))
        if value != value or value in (math.inf, -math.inf):
            raise argparse.ArgumentTypeError("%s is not a finite number: must be %s" % (shown(text), bounds()))
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError("%s is out of range: must be %s" % (shown(text), bounds()))
        if high is not None and value > high:
            raise argparse.ArgumentTypeError("%s is out of range: must be %s" % (
                shown(text), "at most %s" % high if high in CAPS else bounds()))
        return value
    return parse


def limited(name, low):
    """argparse type for the run's whole number `name`: from `low` to its limit, config.LIMITS[name]."""
    return number(int, low, LIMITS[name])


# any whole number seeds random.Random; one of more than 19 digits is surely a slip
SEED = number(int, -LIMITS["seed"], LIMITS["seed"])


def temperature(text):
    """argparse type: a temperature, 0 or more; one so small that 1/T overflows is 0 (config.MIN_TEMPERATURE)."""
    value = number(float, 0)(text)
    return 0.0 if value < MIN_TEMPERATURE else value


def path(what):
    """argparse type: a path that names something: not empty, no NUL (no file system allows one)."""
    def parse(text):
        if not text.strip():
            raise argparse.ArgumentTypeError("the path is empty; give a %s" % what)
        if "\0" in text:
            raise argparse.ArgumentTypeError("%r holds a NUL character, which no %s name can" % (shown(text), what))
        return text
    return parse


def typed(text):
    """argparse type: text as the user typed it. Under a locale that cannot decode it (LC_ALL=C with Python's
    UTF-8 mode off), a non-ASCII argument arrives as surrogate escapes of its bytes ("\\udcc3\\udca9" for
    "\u00e9"); bytes that are UTF-8, as a terminal sends them, are decoded as UTF-8 again."""
    try:
        return os.fsencode(text).decode("utf-8")
    except UnicodeError:  # not bytes in disguise, or not UTF-8: as it came
        return text


def workers_count(text):
    from ..speed.workers import usable_cores
    cores = usable_cores()
    if text == "auto":
        return cores
    # more processes than cores only share the same cores, each with a copy of the model: a few are allowed
    return number(int, 1, min(4 * cores, LIMITS["workers"]))(text)


def add_model_arguments(parser, d):
    """The model group: --n-layer, --n-embd, --n-head, --block-size, TrainConfig d's defaults in their help (a
    parser made with argument_default=SUPPRESS leaves a flag not given out of the namespace). For train, gradcheck."""
    g = parser.add_argument_group("model")
    n = dict(metavar="N")
    g.add_argument("--n-layer", type=limited("n_layer", 1), help="transformer blocks (default %s)" % d.n_layer, **n)
    g.add_argument("--n-embd", type=limited("n_embd", 1), help="embedding width (default %s)" % d.n_embd, **n)
    g.add_argument("--n-head", type=limited("n_head", 1), help="attention heads; must divide --n-embd (default %s)"
                   % d.n_head, **n)
    g.add_argument("--block-size", type=limited("block_size", 2),
                   help="context length in tokens (default %s)" % d.block_size,
                   **n)


def add_torch_arguments(group, default=argparse.SUPPRESS):
    """--device and --dtype, the torch engine's: train, sample and bench take them."""
    group.add_argument("--device", choices=DEVICES, default=default,
                       help="for --engine torch: auto (default) takes cuda, then mps, then cpu")
    group.add_argument("--dtype", choices=DTYPES, default=default,
                       help="for --engine torch: auto (default) is float64 on the CPU, float32 on a GPU")
