"""Benchmark: the torch engine against the fast engine, on models from the default one to 4 layers x 64.

`microgpt bench --engine torch`. Each model trains on the names data (Adam, lr 0.01, the same documents,
weights and schedule as `microgpt train` with those flags) twice, in this process: on the fast engine for
a few steps (a 4-layer, 64-wide step of 32 names takes seconds in pure Python) and on the torch engine for
more. Only the training steps are timed (forward, backward, update), and tokens/s is their predicted
tokens over the wall time. What each engine does once per size is left out by an untimed step of one
document on a throwaway copy: the fast engine generates its kernels, torch starts up (its first call of
each op). The losses of the steps both engines ran are compared: in float64 they agree to rounding.
"""

import os
import random
import time

from ..config import TrainConfig
from ..model import GPT
from ..optim import make_optimizer
from ..speed import engine, torch_engine
from ..train import get_lr
from . import bench

# (n_layer, n_embd, batch_size): steps on the fast engine, on the torch engine; then the same for --quick
MODELS = [((1, 16, 1), (300, 300), (50, 50)),
          ((1, 16, 32), (10, 100), (2, 20)),
          ((2, 32, 32), (4, 100), (1, 20)),
          ((4, 64, 32), (2, 50), (1, 10))]


def torch_steps(run, cfg, steps):
    """(losses, wall seconds) of the first `steps` steps on the torch engine, from the run's first weights."""
    rng = random.Random()
    rng.setstate(run.init_state)
    first = GPT(run.model_config, rng).params

    def compute():
        model = GPT(run.model_config, params=first)
        optimizer = make_optimizer(cfg.optimizer, model.num_params, cfg.beta1, cfg.beta2, cfg.eps)
        return torch_engine.TorchCompute(cfg, model, optimizer)
    compute().train(run.batches[0][:1], get_lr(cfg, 0))  # torch's one-time start, untimed
    timed, losses = compute(), []
    wall = time.perf_counter()
    for step in range(steps):
        losses.append(timed.train(run.batches[step], get_lr(cfg, step)))  # .item() waits for a GPU
    return losses, time.perf_counter() - wall


def run(args, out=None):
    def say(line=""):
        print(line, file=out, flush=True)

    torch_engine.require()
    device = torch_engine.resolve_device(args.device)
    dtype = torch_engine.resolve_dtype(args.dtype, device)
    torch_engine.cpu_threads(device)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    say("interpreter: %s | %s, threads: %d" % (bench.interpreter(), torch_engine.where(device, dtype),
                                                torch_engine.torch.get_num_threads()))
    say("machine: %s, load average %.2f at start" % (bench.machine(), load))
    say("training steps (forward, backward, Adam) on the names data, both engines in this run")
    say()
    say("%-22s %5s %6s %12s %6s %12s %11s %10s" % ("model", "batch", "fast", "fast tok/s", "torch", "torch tok/s",
                                                   "torch/fast", "loss diff"))
    for (n_layer, n_embd, batch_size), full, quick in MODELS:
        fast_n, torch_n = quick if args.quick else full
        cfg = TrainConfig(data=args.data, n_layer=n_layer, n_embd=n_embd, batch_size=batch_size,
                          steps=max(fast_n, torch_n), engine="torch", device=args.device, dtype=args.dtype,
                          quiet=True).validate()
        replay = bench.Run(cfg)
        engine.loss_and_grad(GPT(replay.model_config), replay.batches[0][:1])  # the kernels, built untimed
        fast_losses, fast_wall, _ = replay.train(engine.loss_and_grad, fast_n)
        torch_losses, torch_wall = torch_steps(replay, cfg, torch_n)
        fast_rate, torch_rate = sum(replay.tokens[:fast_n]) / fast_wall, sum(replay.tokens[:torch_n]) / torch_wall
        diff = max(abs(a - b) for a, b in zip(fast_losses, torch_losses))
        say("%-22s %5d %6d %12.0f %6d %12.0f %10.1fx %10.1e"
            % ("n_layer=%d n_embd=%d" % (n_layer, n_embd), batch_size, fast_n, fast_rate, torch_n, torch_rate,
               torch_rate / fast_rate, diff))
    say()
    say("fast, torch: steps timed on each engine; loss diff: the largest difference of their losses, same steps")
    return 0
