"""Benchmark: time the fast and the scalar engine on the same training run. (Being written.)"""


def add_arguments(parser):
    parser.add_argument("--quick", action="store_true", help="a shorter run")


def run(args):
    raise NotImplementedError("the benchmark is not written yet")
