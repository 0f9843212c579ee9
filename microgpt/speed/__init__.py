"""The speed layer: the same model computed faster, built on the book (the package's top level).

- engine.py: the fast engine, every op a forward/backward pair on flat lists of floats;
- loops.py: those pairs written as plain loops, the reference; kernels.py: the same sums as code
  generated per size, which the fast engine runs on CPython (MICROGPT_KERNELS=0: the plain loops);
- evaluate.py: the held-out loss, each shared prefix computed once;
- workers.py: several processes computing each step together, for the same numbers;
- torch_engine.py: the same model on PyTorch (optional, imported only when asked for).

ENGINES is the one place where an engine's name (TrainConfig.engine) becomes the engine: a module with
loss_and_grad(model, batch) and loss_only(model, batch). The torch engine runs whole steps on its
own and is reached through its Compute (torch_engine.TorchCompute) instead.
"""

import os

from .. import scalar_engine
from ..errors import MicroGPTError
from . import engine

ENGINES = {"fast": engine, "scalar": scalar_engine}


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
