"""The training loop: documents in, a trained model out.

One step takes the next document(s), runs the model forward to get the loss, backward to get the
gradient of the loss with respect to every parameter, and lets the optimizer move the parameters a
little against it. The learning rate decays linearly from lr to 0 over the run.

With the default configuration this is, number for number, the loop of Karpathy's microgpt: the same
random stream (seed, shuffle, weight init, sampling), the same documents in the same order, the same
arithmetic, hence the same printed losses and the same 20 names.
"""

import math
import random
import sys
import time
from dataclasses import asdict, dataclass, fields

from . import data, engine, sample, scalar_engine
from .errors import MicroGPTError
from .model import GPT, GPTConfig
from .optim import make_optimizer

ENGINES = {"fast": engine, "scalar": scalar_engine}
OPTIMIZERS = ("adam", "sgd")


@dataclass
class TrainConfig:
    data: str = ""  # text file, one document per line; "" = the names dataset (downloaded once)
    n_layer: int = 1  # model size: see model.GPTConfig
    n_embd: int = 16
    n_head: int = 4
    block_size: int = 16
    steps: int = 1000  # optimizer steps
    batch_size: int = 1  # documents per step; the loss is the mean over all their predicted tokens
    lr: float = 0.01  # peak learning rate, decayed linearly to 0
    optimizer: str = "adam"  # adam or sgd
    beta1: float = 0.85  # Adam's decay rates for the gradient mean and its square
    beta2: float = 0.99
    eps: float = 1e-8
    val_fraction: float = 0.1  # share of documents held out (taken from the end of the shuffled list)
    seed: int = 42  # seeds the one random stream: shuffle, weights, sampling
    engine: str = "fast"  # fast or scalar: same numbers, the scalar one ~100x slower
    log_every: int = 1  # print the loss every this many steps (and at the last)
    temperature: float = 0.5  # sampling after training: <1 sharper, >1 more random, 0 = always the likeliest
    num_samples: int = 20  # names to print after training
    quiet: bool = False  # no progress line on stderr

    def validate(self):
        def need(ok, message):
            if not ok:
                raise MicroGPTError(message)
        need(self.steps >= 1, "steps must be at least 1, got %d" % self.steps)
        need(self.batch_size >= 1, "batch_size must be at least 1, got %d" % self.batch_size)
        need(self.lr > 0 and math.isfinite(self.lr), "lr must be a positive number, got %r" % self.lr)
        need(self.optimizer in OPTIMIZERS, "optimizer must be one of %s" % ", ".join(OPTIMIZERS))
        need(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "beta1 and beta2 must be in [0, 1)")
        need(self.eps > 0, "eps must be positive")
        need(0 <= self.val_fraction < 1, "val_fraction must be in [0, 1), got %r" % self.val_fraction)
        need(self.engine in ENGINES, "engine must be one of %s" % ", ".join(ENGINES))
        need(self.log_every >= 1, "log_every must be at least 1, got %d" % self.log_every)
        need(self.temperature >= 0 and math.isfinite(self.temperature),
             "temperature must be 0 or more, got %r" % self.temperature)
        need(self.num_samples >= 0, "num_samples must be 0 or more, got %d" % self.num_samples)
        self.model_config(2).validate()
        return self

    def model_config(self, vocab_size):
        return GPTConfig(vocab_size=vocab_size, n_layer=self.n_layer, n_embd=self.n_embd,
                         n_head=self.n_head, block_size=self.block_size)

    def describe(self):
        return " ".join("%s=%s" % (f.name, getattr(self, f.name) if f.name != "data" or self.data
                                   else "names") for f in fields(self))


class Progress:
    """One live line on stderr when it is a terminal: step, loss, speed and time left."""

    def __init__(self, stream, total, enabled):
        self.stream, self.total = stream, total
        self.enabled = enabled and hasattr(stream, "isatty") and stream.isatty()
        self.start = self.last = time.time()

    def update(self, step, loss):
        now = time.time()
        if not self.enabled or (now - self.last < 0.1 and step < self.total):
            return
        self.last = now
        rate = step / max(now - self.start, 1e-9)
        eta = (self.total - step) / rate
        self.stream.write("\r\033[Kstep %d/%d | loss %.4f | %.1f steps/s | ETA %dm%02ds"
                          % (step, self.total, loss, rate, eta // 60, eta % 60))
        self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()


def train(cfg, out=None, err=None):
    """Run the whole pipeline of `cfg`: data, model, training, samples. Returns what it made."""
    out = out or sys.stdout
    err = err or sys.stderr
    cfg.validate()

    def say(line):
        print(line, file=out, flush=True)

    path = cfg.data or data.ensure_names(log=lambda m: print(m, file=err))
    docs = data.load_docs(path)
    rng = random.Random(cfg.seed)
    rng.shuffle(docs)
    say("config: %s" % cfg.describe())
    say("num docs: %d" % len(docs))
    tokenizer = data.Tokenizer.from_docs(docs)
    say("vocab size: %d" % tokenizer.vocab_size)
    train_docs, val_docs = data.split_docs(docs, cfg.val_fraction)
    too_long = sum(1 for d in train_docs if len(d) + 1 > cfg.block_size)
    if too_long:
        print("warning: %d of %d training documents are longer than block_size %d allows; "
              "only their first %d tokens are trained on" % (too_long, len(train_docs), cfg.block_size,
                                                             cfg.block_size), file=err)

    model = GPT(cfg.model_config(tokenizer.vocab_size), rng)
    say("num params: %d" % model.num_params)

    loss_and_grad = ENGINES[cfg.engine].loss_and_grad
    optimizer = make_optimizer(cfg.optimizer, model.num_params, cfg.beta1, cfg.beta2, cfg.eps)
    progress = Progress(err, cfg.steps, not cfg.quiet)
    losses = []
    for step in range(cfg.steps):
        batch = [tokenizer.frame(train_docs[(step * cfg.batch_size + b) % len(train_docs)])
                 for b in range(cfg.batch_size)]
        loss, grads = loss_and_grad(model, batch)
        if not math.isfinite(loss):
            progress.close()
            raise MicroGPTError("the loss became %r at step %d; try a smaller --lr" % (loss, step + 1))
        optimizer.step(model.params, grads, cfg.lr * (1 - step / cfg.steps))
        losses.append(loss)
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            progress.close()
            say("step %4d / %4d | loss %.4f" % (step + 1, cfg.steps, loss))
        progress.update(step + 1, loss)
    progress.close()

    names = [sample.generate(model, tokenizer, rng, cfg.temperature) for _ in range(cfg.num_samples)]
    if names:
        say("--- inference (new, hallucinated names) ---")
    for i, name in enumerate(names):
        say("sample %2d: %s" % (i + 1, name))
    return {"model": model, "tokenizer": tokenizer, "losses": losses, "samples": names,
            "config": asdict(cfg), "rng": rng}
