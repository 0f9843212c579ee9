"""The speed layer: the same model computed faster, built on the book (the package's top level).

- engine.py: the fast engine, every op a forward/backward pair on flat lists of floats;
- loops.py: those pairs written as plain loops, the reference; kernels.py: the same sums as code
  generated per size, which the fast engine runs on CPython (MICROGPT_KERNELS=0: the plain loops);
- evaluate.py: the held-out loss, each shared prefix computed once;
- fastmath.py: kernels.py with the long dot products in math.sumprod (--fast-math; Python 3.12+);
- workers.py: several processes computing each step together, for the same numbers;
- torch_engine.py: the same model on PyTorch (optional, imported only when asked for).

engine_for(cfg.engine, cfg.fast_math) is the one place where a run's config becomes the engine: a module
of ENGINES (by TrainConfig.engine) or FastMath, each with loss_and_grad(model, batch) and
loss_only(model, batch). The torch engine runs whole steps on its own and is reached through its
Compute (torch_engine.TorchCompute) instead.
"""

import os

from .. import scalar_engine
from ..errors import MicroGPTError
from . import engine

ENGINES = {"fast": engine, "scalar": scalar_engine}


class FastMath:
    """The fast engine on fastmath.py's sums, an engine like those in ENGINES: --fast-math."""

    def __init__(self):
        from . import fastmath
        fastmath.require()
        self.math = fastmath

    def loss_and_grad(self, model, batch):
        return engine.loss_and_grad(model, batch, self.math)

    def loss_only(self, model, batch):
        return engine.loss_only(model, batch, self.math)


def engine_for(name, fast_math=False):
    """The engine a run's steps are computed with: ENGINES[name], or with fast_math (which TrainConfig
    allows with the fast engine only) FastMath; where Python has no math.sumprod, that is one line."""
    return FastMath() if fast_math else ENGINES[name]


def torchrun_number(name, default, low=0):
    """The whole number torchrun puts in $`name` (WORLD_SIZE, RANK, LOCAL_RANK) for each process it
    starts, or `default` where it is not set: here, without importing torch, so that a fast run refuses
    a WORLD_SIZE it cannot honour too. Anything else (empty, "x", below `low`) is one line."""
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low:
        raise MicroGPTError("$%s is %r, not a whole number of at least %d: torchrun sets it for each process it "
                            "starts; unset it to train in one process" % (name, text[:40], low))
    return value
