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

from .. import scalar_engine
from . import engine

ENGINES = {"fast": engine, "scalar": scalar_engine}
