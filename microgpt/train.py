"""The training loop: documents in, a trained model out, kept in a run directory.

One step takes the next document(s), runs the model forward to get the loss, backward to get the
gradient of the loss with respect to every parameter, and lets the optimizer move the parameters a
little against it. The learning rate decays linearly from lr to 0 over the run: at step s (0-based)
it is lr * (1 - s / steps).

With the default configuration this is, number for number, the loop of Karpathy's microgpt: the same
random stream (seed, shuffle, weight init, sampling), the same documents in the same order, the same
arithmetic, hence the same printed losses and the same 20 names.

Around that loop, what makes it a tool:
- a run directory (checkpoint.json, metrics.jsonl, config.json), saved every save_every steps, at the
  end and on Ctrl-C, and `resume`, which continues a run so that N steps + resume + M steps gives the
  very same bits as N + M steps at once (the random stream is saved with the weights);
- a held-out loss on documents the model never trains on, every eval_every steps and at the end;
- a stop that loses nothing: Ctrl-C finishes the current step, saves, and exits; a loss that turns
  NaN or infinite stops the run before a bad checkpoint can replace the last good one.

Left out: learning-rate warmup, gradient clipping, weight decay. The reference has none of them.
"""

import json
import math
import os
import random
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, fields

from . import __version__, checkpoint, data, engine, sample, scalar_engine
from .errors import MicroGPTError
from .model import GPT, GPTConfig
from .optim import make_optimizer

ENGINES = {"fast": engine, "scalar": scalar_engine}
OPTIMIZERS = ("adam", "sgd")
CHECKPOINT, METRICS, CONFIG = "checkpoint.json", "metrics.jsonl", "config.json"
# what may differ when a run is resumed: when and how it reports, and how long it goes on. The rest
# (model, data, optimizer, seed, ...) is what the checkpoint's numbers were made with.
RESUMABLE = ("steps", "engine", "log_every", "eval_every", "eval_docs", "save_every", "temperature",
             "num_samples", "quiet")


@dataclass
class TrainConfig:
    data: str = ""  # text file, one document per line; "" = the names dataset (downloaded once)
    n_layer: int = 1  # model size: see model.GPTConfig
    n_embd: int = 16
    n_head: int = 4
    block_size: int = 16
    steps: int = 1000  # optimizer steps in the whole run: the length of the learning-rate schedule
    batch_size: int = 1  # documents per step; the loss is the mean over all their predicted tokens
    lr: float = 0.01  # peak learning rate, decayed linearly to 0
    optimizer: str = "adam"  # adam or sgd
    beta1: float = 0.85  # Adam's decay rates for the gradient mean and its square
    beta2: float = 0.99
    eps: float = 1e-8
    val_fraction: float = 0.1  # share of documents held out (taken from the end of the shuffled list)
    seed: int = 42  # seeds the one random stream: shuffle, weights, sampling
    engine: str = "fast"  # fast or scalar: same numbers, the scalar one ~5x slower
    log_every: int = 1  # print the loss every this many steps (and at the last)
    eval_every: int = 250  # held-out loss every this many steps (0 = only at the end)
    eval_docs: int = 300  # held-out documents used by those evaluations (0 = all); the final one uses all
    save_every: int = 100  # checkpoint every this many steps (0 = only at the end and on Ctrl-C)
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
        for name in ("eval_every", "eval_docs", "save_every"):
            need(getattr(self, name) >= 0, "%s must be 0 or more, got %d" % (name, getattr(self, name)))
        need(self.temperature >= 0 and math.isfinite(self.temperature),
             "temperature must be 0 or more, got %r" % self.temperature)
        need(self.num_samples >= 0, "num_samples must be 0 or more, got %d" % self.num_samples)
        self.model_config(2).validate()
        return self

    @classmethod
    def from_dict(cls, d):
        """A config read back from JSON, checked field by field (a checkpoint may be edited or foreign)."""
        names = [f.name for f in fields(cls)]
        checkpoint.expect_keys(d, names, "config")
        for name in names:
            value, kind = d[name], type(getattr(cls, name))
            ok = (isinstance(value, bool) if kind is bool else
                  isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float else
                  isinstance(value, kind) and not isinstance(value, bool))
            if not ok:
                kinds = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
                raise MicroGPTError("config.%s must be %s, got %s" % (name, kinds[kind], json.dumps(value)[:40]))
        return cls(**d).validate()

    def model_config(self, vocab_size):
        return GPTConfig(vocab_size=vocab_size, n_layer=self.n_layer, n_embd=self.n_embd,
                         n_head=self.n_head, block_size=self.block_size)

    def describe(self):
        return " ".join("%s=%s" % (f.name, getattr(self, f.name) if f.name != "data" or self.data
                                   else "names") for f in fields(self))


# --------------------------------------------------------------------------------------------------
# progress on stderr

class Progress:
    """Step, loss, held-out loss, speed and time left, on stderr.

    On a terminal: one line redrawn in place (at most 10 times a second). Elsewhere (a log file, a pipe):
    a plain line every PLAIN_EVERY seconds, so a long job shows it is alive without flooding the log.
    No colour is used, so NO_COLOR is honoured trivially.
    """
    PLAIN_EVERY = 5.0

    def __init__(self, stream, first, total, enabled):
        self.stream, self.first, self.total = stream, first, total
        self.enabled = enabled
        self.live = enabled and hasattr(stream, "isatty") and stream.isatty()
        self.start = self.last = time.time()
        self.val_loss = None

    def update(self, step, loss):
        now = time.time()
        interval = 0.1 if self.live else self.PLAIN_EVERY
        if not self.enabled or (now - self.last < interval and step < self.total):
            return
        if not self.live and step == self.total:
            return  # the plain log ends with the run's own summary
        self.last = now
        rate = (step - self.first) / max(now - self.start, 1e-9)
        eta = (self.total - step) / max(rate, 1e-9)
        held = " | held-out %.4f" % self.val_loss if self.val_loss is not None else ""
        line = "step %d/%d | loss %.4f%s | %.1f steps/s | ETA %dm%02ds" % (
            step, self.total, loss, held, rate, eta // 60, eta % 60)
        self.stream.write("\r\033[K" + line if self.live else line + "\n")
        self.stream.flush()

    def close(self):
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()


# --------------------------------------------------------------------------------------------------
# Ctrl-C: stop between steps, never in the middle of one

class Interrupted(KeyboardInterrupt):
    """Training stopped on Ctrl-C; the message says what was saved. The CLI exits with 130."""


class StopRequest:
    """While active, the first Ctrl-C (SIGINT) only raises a flag that the loop reads between steps, so
    the weights and Adam's moments are saved whole, never half updated. A second Ctrl-C interrupts at once.

    Signal handlers belong to the main thread; elsewhere, or if SIGINT was already taken over by the
    program around us, Ctrl-C keeps its usual meaning.
    """

    def __init__(self):
        self.requested = False
        self.installed = False

    def __enter__(self):
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, self.handle)
            self.installed = True
        return self

    def handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self.installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.installed = False


# --------------------------------------------------------------------------------------------------
# the run directory

def default_run_dir(cfg, root="runs"):
    """runs/<dataset name>, e.g. runs/names; if that already holds a run, runs/names-2, -3, ...

    Only the default gets this courtesy: an explicit --out that holds a run is an error (see RunDir).
    """
    stem = os.path.splitext(os.path.basename(cfg.data))[0] if cfg.data else "names"
    folder, n = os.path.join(root, stem or "run"), 1
    while os.path.exists(os.path.join(folder, CHECKPOINT)):
        n += 1
        folder = os.path.join(root, "%s-%d" % (stem, n))
    return folder


class RunDir:
    """checkpoint.json, metrics.jsonl and config.json of one run."""

    def __init__(self, path):
        self.path = path
        self.checkpoint = os.path.join(path, CHECKPOINT)
        self.metrics = os.path.join(path, METRICS)
        self.config = os.path.join(path, CONFIG)
        self.log_file = None
        self.saved_step = None  # the step of the last checkpoint known to be good

    def start_fresh(self, overwrite):
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise MicroGPTError("cannot use %s as the run directory: it is a file" % self.path)
        if os.path.exists(self.checkpoint) and not overwrite:
            raise MicroGPTError("%s already holds a run; continue it with --resume %s, or pass --overwrite "
                                "to replace it, or choose another --out" % (self.path, self.path))
        try:
            os.makedirs(self.path, exist_ok=True)
            for name in (self.checkpoint, self.metrics):
                if os.path.exists(name):
                    os.remove(name)
            self.log_file = open(self.metrics, "w", encoding="utf-8")
        except OSError as e:
            raise self.unwritable(e)

    def start_resumed(self, step):
        """Keep the metrics up to the checkpoint's step: later ones belong to steps about to be redone."""
        kept = []
        try:
            with open(self.metrics, encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue  # a line cut short by a crash
                    if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= step:
                        kept.append(json.dumps(record) + "\n")
        except FileNotFoundError:
            pass
        except OSError as e:
            raise self.unwritable(e)
        try:
            data.write_atomic(self.metrics, "".join(kept))
            self.log_file = open(self.metrics, "a", encoding="utf-8")
        except OSError as e:
            raise self.unwritable(e)
        self.saved_step = step

    def unwritable(self, e):
        return MicroGPTError("cannot write to the run directory %s: %s; choose another with --out DIR"
                             % (self.path, getattr(e, "strerror", None) or e))

    def write_config(self, cfg, model_config, data_info):
        text = json.dumps({"microgpt": __version__, "config": asdict(cfg), "model": asdict(model_config),
                           "data": data_info}, indent=2, ensure_ascii=False) + "\n"
        try:
            data.write_atomic(self.config, text)
        except OSError as e:
            raise self.unwritable(e)

    def log(self, record):
        try:
            self.log_file.write(json.dumps(record) + "\n")
            self.log_file.flush()
        except OSError as e:
            raise self.unwritable(e)

    def save(self, ck):
        checkpoint.save(self.checkpoint, ck)
        self.saved_step = ck.step

    def close(self):
        if self.log_file:
            self.log_file.close()
            self.log_file = None

    def last_good(self):
        if self.saved_step is None:
            return "no checkpoint had been saved yet"
        return "the last good checkpoint, step %d, is in %s" % (self.saved_step, self.checkpoint)


# --------------------------------------------------------------------------------------------------
# fresh runs and resumed runs

def train(cfg, out=None, err=None, run_dir=None, overwrite=False):
    """Run the whole pipeline of `cfg`: data, model, training, samples. Returns what it made.

    With run_dir, the run is kept there (refusing a folder that holds a run unless `overwrite`); without
    it, nothing is written to disk.
    """
    cfg.validate()
    err = err or sys.stderr
    path = cfg.data or data.ensure_names(log=lambda m: print(m, file=err))
    docs = data.load_docs(path)
    data_info = {"path": os.path.abspath(path), "sha256": data.sha256_of(path), "num_docs": len(docs)}
    rng = random.Random(cfg.seed)
    rng.shuffle(docs)
    tokenizer = data.Tokenizer.from_docs(docs)
    model = GPT(cfg.model_config(tokenizer.vocab_size), rng)
    optimizer = make_optimizer(cfg.optimizer, model.num_params, cfg.beta1, cfg.beta2, cfg.eps)
    run = None
    if run_dir is not None:
        run = RunDir(run_dir)
        run.start_fresh(overwrite)
        run.write_config(cfg, model.config, data_info)
    return loop(cfg, docs, tokenizer, model, optimizer, rng, 0, data_info, run, out, err)


def resume(run_dir, changes=None, out=None, err=None):
    """Continue the run in `run_dir` from its checkpoint, to its total steps (or changes["steps"]).

    Only the fields in RESUMABLE may change; changing steps stretches the learning-rate schedule from
    here on: step s gets lr * (1 - s / new_steps).
    """
    err = err or sys.stderr
    run = RunDir(run_dir)
    if not os.path.isdir(run_dir):
        raise MicroGPTError("cannot resume: %s is not a run directory" % run_dir)
    ck = checkpoint.load(run.checkpoint)
    try:
        cfg = TrainConfig.from_dict(dict(ck.config))
    except MicroGPTError as e:
        raise MicroGPTError("%s: %s" % (run.checkpoint, e))
    changes = dict(changes or {})
    for name, value in sorted(changes.items()):
        if name != "data" and name not in RESUMABLE and value != getattr(cfg, name):
            raise MicroGPTError("--%s cannot change when resuming (the run has %s); start a new run with --out"
                                % (name.replace("_", "-"), getattr(cfg, name)))
        if name in RESUMABLE:
            setattr(cfg, name, value)
    cfg.validate()
    if cfg.steps <= ck.step:
        raise MicroGPTError("%s has already trained %d of %d steps; pass a larger --steps to train on"
                            % (run_dir, ck.step, cfg.steps))
    if ck.model != cfg.model_config(len(ck.vocab) + 1) or ck.optimizer["name"] != cfg.optimizer:
        raise MicroGPTError("%s: the model or optimizer does not match the config stored with it" % run.checkpoint)
    if ck.optimizer["name"] == "adam" and ck.optimizer["t"] != ck.step:
        raise MicroGPTError("%s: Adam has taken %d steps but the checkpoint says %d"
                            % (run.checkpoint, ck.optimizer["t"], ck.step))

    # the very same documents in the very same order, or the continuation would not be exact
    path = changes.get("data") or (ck.data.get("path") if cfg.data else data.ensure_names(
        log=lambda m: print(m, file=err)))
    if not isinstance(path, str) or not os.path.isfile(path):
        raise MicroGPTError("cannot resume: the training data %s is gone; pass --data FILE with the same file"
                            % path)
    if data.sha256_of(path) != ck.data.get("sha256"):
        raise MicroGPTError("cannot resume: %s is not the file this run trained on (its SHA-256 differs)" % path)
    docs = data.load_docs(path)
    random.Random(cfg.seed).shuffle(docs)
    tokenizer = data.Tokenizer.from_docs(docs)
    if tokenizer.chars != ck.vocab:
        raise MicroGPTError("%s: its vocabulary does not match the training data" % run.checkpoint)

    model = GPT(ck.model, random.Random(0))
    model.params[:] = ck.params
    optimizer = make_optimizer(cfg.optimizer, model.num_params, cfg.beta1, cfg.beta2, cfg.eps)
    optimizer.load_state(ck.optimizer)
    rng = random.Random()
    rng.setstate(ck.rng_state)
    data_info = dict(ck.data, path=os.path.abspath(path))
    run.start_resumed(ck.step)
    run.write_config(cfg, model.config, data_info)
    return loop(cfg, docs, tokenizer, model, optimizer, rng, ck.step, data_info, run, out, err)


# --------------------------------------------------------------------------------------------------
# the loop itself

def evaluate(model, tokenizer, docs):
    """(mean nats per predicted token, tokens): graph-free, so it costs a forward pass only."""
    batch = [tokenizer.frame(d) for d in docs]
    tokens = sum(model.config.predictions(f) for f in batch)
    return engine.loss_only(model, batch), tokens


def loop(cfg, docs, tokenizer, model, optimizer, rng, step, data_info, run, out, err):
    """Train from `step` to cfg.steps, evaluating, saving and logging on the way; then sample."""
    out = out or sys.stdout

    def say(line):
        print(line, file=out, flush=True)

    train_docs, val_docs = data.split_docs(docs, cfg.val_fraction)
    say("config: %s" % cfg.describe())
    say("num docs: %d" % len(docs))
    say("vocab size: %d" % tokenizer.vocab_size)
    too_long = sum(1 for d in train_docs if len(d) + 1 > cfg.block_size)
    if too_long:
        print("warning: %d of %d training documents are longer than block_size %d allows; "
              "only their first %d tokens are trained on" % (too_long, len(train_docs), cfg.block_size,
                                                             cfg.block_size), file=err)
    say("num params: %d" % model.num_params)
    if run:
        say("run dir: %s" % run.path + (" (resumed at step %d)" % step if step else ""))

    def snapshot():
        if not all(map(math.isfinite, model.params)):
            raise MicroGPTError("the weights became NaN or infinite at step %d; stopped without saving: %s; try a "
                                "smaller --lr" % (step, run.last_good()))
        return checkpoint.Checkpoint(step, asdict(cfg), model.config, tokenizer.chars, data_info,
                                     rng.getstate(), dict(optimizer.state(), name=optimizer.name), model.params)

    def held_out(docs_used, step):
        loss, tokens = evaluate(model, tokenizer, docs_used)
        say("eval %4d / %4d | held-out loss %.4f on %d of %d docs"
            % (step, cfg.steps, loss, len(docs_used), len(val_docs)))
        if run:
            run.log({"step": step, "val_loss": loss, "val_docs": len(docs_used), "val_tokens": tokens})
        return loss

    loss_and_grad = ENGINES[cfg.engine].loss_and_grad

    def take_step(step):
        """One optimizer step (step is 0-based); returns the loss, or raises if the run diverged."""
        batch = [tokenizer.frame(d) for d in data.batch_docs(train_docs, step, cfg.batch_size)]
        try:
            loss, grads = loss_and_grad(model, batch)
            if math.isfinite(loss):
                optimizer.step(model.params, grads, cfg.lr * (1 - step / cfg.steps))
        except ArithmeticError:  # a float overflow (x ** 2 of a huge gradient): the run has diverged
            loss = math.inf
        if not math.isfinite(loss):  # nothing is saved from here on: the last checkpoint stays the good one
            progress.close()
            raise MicroGPTError("the loss became %s at step %d: training diverged; stopped without saving: %s; "
                                "try a smaller --lr" % (loss, step + 1, run.last_good() if run else "no run dir"))
        return loss, sum(model.config.predictions(t) for t in batch)

    progress = Progress(err, step, cfg.steps, not cfg.quiet)
    losses, val_loss = [], None
    tokens_seen, last_time = 0, time.time()
    periodic_val = val_docs[:cfg.eval_docs] if cfg.eval_docs else val_docs
    with StopRequest() as stop:
        try:
            while step < cfg.steps and not stop.requested:
                loss, tokens = take_step(step)
                step += 1
                losses.append(loss)
                tokens_seen += tokens
                if step % cfg.log_every == 0 or step == cfg.steps:
                    progress.close()
                    say("step %4d / %4d | loss %.4f" % (step, cfg.steps, loss))
                    now = time.time()
                    if run:
                        run.log({"step": step, "loss": loss, "lr": cfg.lr * (1 - (step - 1) / cfg.steps),
                                 "tokens_per_s": round(tokens_seen / max(now - last_time, 1e-9), 1)})
                    tokens_seen, last_time = 0, now
                if cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.steps and val_docs:
                    progress.close()
                    progress.val_loss = held_out(periodic_val, step)
                if run and cfg.save_every and step % cfg.save_every == 0 and step < cfg.steps:
                    run.save(snapshot())
                progress.update(step, loss)
            progress.close()
            if stop.requested:  # Ctrl-C: we are between two steps, so the state is whole
                if run:
                    run.save(snapshot())
                    raise Interrupted("interrupted at step %d of %d; checkpoint saved to %s; continue with: "
                                      "microgpt train --resume %s" % (step, cfg.steps, run.checkpoint, run.path))
                raise Interrupted("interrupted at step %d of %d" % (step, cfg.steps))
            if val_docs:
                val_loss = held_out(val_docs, step)
            if run:
                run.save(snapshot())
                say("saved: %s (step %d)" % (run.checkpoint, step))
            if stop.requested:  # Ctrl-C during the final evaluation: the run is complete, skip the samples
                raise Interrupted("interrupted after the last step; the run is complete"
                                  + ("; checkpoint saved to %s" % run.checkpoint if run else ""))
        except Interrupted:
            raise
        except KeyboardInterrupt:  # a second Ctrl-C, or one we could not defer: the step may be half done
            progress.close()
            raise Interrupted("interrupted during step %d of %d; not saved: %s"
                              % (step + 1, cfg.steps, run.last_good() if run else "no run dir"))
        finally:
            if run:
                run.close()

    names = [sample.generate(model, tokenizer, rng, cfg.temperature) for _ in range(cfg.num_samples)]
    if names:
        say("--- inference (new, hallucinated names) ---")
    sample.print_samples(names, set(train_docs), say, marks=False)  # the reference's lines, unmarked
    return {"model": model, "tokenizer": tokenizer, "losses": losses, "samples": names,
            "config": asdict(cfg), "rng": rng, "val_loss": val_loss, "step": step,
            "run_dir": run.path if run else None}
