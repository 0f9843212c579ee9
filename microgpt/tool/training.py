"""A training run as the tool runs it: fresh or resumed, kept in a run directory, stopped safely.

The loop itself is the book's (train.loop): this module gives it the engine to compute with and what
to do after each step: the loss line, the held-out loss every eval_every steps, a checkpoint every
save_every steps, the progress line. Around it: a checkpoint at the end and on Ctrl-C, from which
`resume` continues so that N steps + resume + M steps gives the very same bits as N + M steps at once;
a loss that turns NaN or infinite stops the run before a bad checkpoint can replace the last good one.
"""

import dataclasses
import math
import os
import random
import signal
import sys
import time

from .. import sample
from ..config import RESUMABLE
from ..errors import ComputeError, MicroGPTError
from ..model import GPT
from ..optim import make_optimizer
from ..speed import engine, engine_for, evaluate, torchrun_number
from ..train import Compute, Diverged, get_lr
from ..train import loop as train_loop
from . import checkpoint, cost, download, report, sampling, tokenizers
from .console import Interrupted, Lines, Progress, StopRequest, stopped_by
from .files import reach, read_dataset
from .messages import t
from .runs import RunDir, identity

# Of the settings a resume may change (RESUMABLE), those of that resume only: when and how it reports.
# Checkpoints keep the run's own, so `--resume DIR --quiet` once does not make every later resume quiet.
REPORTING = ("log_every", "eval_every", "eval_docs", "save_every", "temperature", "num_samples", "quiet")


def make_compute(cfg, model, optimizer):
    """The Compute for `cfg`: in this process unless the config asks for another kind."""
    if cfg.engine == "torch":  # PyTorch, imported only now: the package itself needs nothing but Python
        from ..speed import torch_engine
        return torch_engine.TorchCompute(cfg, model, optimizer)
    if cfg.workers > 1:
        from ..speed.workers import PoolCompute
        return PoolCompute(cfg, model, optimizer, cfg.workers)
    return Compute(model, optimizer, engine_for(cfg.engine, cfg.fast_math), evaluate.evaluate)


def this_process(cfg, run_dir, out, err):
    """(run_dir, out, err) for this process, checked before anything is written. Under torchrun every
    process runs the whole loop on its share of each batch (torch_engine.py); only the first (RANK 0)
    reports and keeps the run directory."""
    world, rank = torchrun_number("WORLD_SIZE", 1, 1), torchrun_number("RANK", 0)
    if cfg.engine == "torch":  # no torch, no such device: say so now, not after making a run directory
        from ..speed import torch_engine
        torch_engine.check(cfg)
        rank, world, _ = torch_engine.ranks()
    if cfg.fast_math:  # no math.sumprod in this Python: said now too
        from ..speed import fastmath
        fastmath.require()
    if world == 1:
        return run_dir, out, err
    if cfg.engine != "torch":
        raise MicroGPTError("%d processes (torchrun) need --engine torch: the %s engine runs in one process"
                            % (world, cfg.engine))
    if cfg.batch_size < world:
        raise MicroGPTError("--batch-size %d is less than the %d processes: each needs a document of every step"
                            % (cfg.batch_size, world))
    if rank == 0:
        return run_dir, out, err
    quiet = open(os.devnull, "w")
    return None, quiet, quiet


# --------------------------------------------------------------------------------------------------
# a run: fresh or resumed, then the loop

def train(cfg, out=None, err=None, run_dir=None, overwrite=False, lang="en"):
    """Run the whole pipeline of `cfg`: data, model, training, samples. Returns what it made.

    With run_dir, the run is kept there (refusing a folder that holds a run unless `overwrite`); without
    it, nothing is written to disk. `lang` is the language of stderr's progress and warnings and of the
    report (messages.py); stdout's lines are the same in any.
    """
    cfg.validate()
    # before the data: a size that no data could make fit (or, with BPE, the vocabulary asked for)
    cost.check_training(cfg, cfg.vocab_size or 2, warn=False)
    run_dir, out, err = this_process(cfg, run_dir, out, err or sys.stderr)
    rng = random.Random(cfg.seed)  # one stream: the shuffle, then the weights, then the samples
    dataset = read_data(cfg, rng, err, tokenizers.learner(cfg, err, lang))
    cost.check_dataset(cfg, dataset, err, lang=lang)  # before the model: its memory and time on this data
    model = GPT(cfg.model_config(dataset.tokenizer.vocab_size), rng)
    optimizer = make_optimizer(cfg.optimizer, model.num_params, cfg.beta1, cfg.beta2, cfg.eps)
    run = None
    if run_dir is not None:
        run = RunDir(run_dir)
        run.start_fresh(overwrite)
        run.write_config(cfg, model.config, dataset.info())
    return Training(cfg, dataset, model, optimizer, rng, 0, run, out, err, lang=lang).loop()


def read_data(cfg, rng, err, tokenizer=None):
    """The dataset of cfg.data in cfg.format, `auto` settled here: cfg.format becomes lines or text (what
    the checkpoints keep), and dataset.why says why. A dataset known by name may say its format (Tiny
    Shakespeare is one text, whatever the length of its lines)."""
    named = download.named_format(cfg.data) if cfg.format == "auto" else None
    dataset = read_dataset(download.resolve(cfg.data, stream=err), rng, cfg.val_fraction, format=named or cfg.format,
                           block_size=cfg.block_size, tokenizer=tokenizer)
    if named:
        dataset.why = "auto: --data %s is one continuous text" % cfg.data
    cfg.format = dataset.format
    return dataset


def resume(run_dir, changes=None, out=None, err=None, lang="en"):
    """Continue the run in `run_dir` from its checkpoint, to its total steps (or changes["steps"]).

    Only the fields in RESUMABLE may change; changing steps stretches the learning-rate schedule from
    here on: step s gets lr * (1 - s / new_steps).
    """
    err = err or sys.stderr
    run = RunDir(run_dir)
    reach(run_dir, "run directory")
    if not os.path.isdir(run_dir):
        raise MicroGPTError("cannot resume: %s is not a run directory" % run_dir)
    loaded = identity(run.checkpoint)  # checked again once the run's lock is ours
    ck = checkpoint.load(run.checkpoint)
    cfg = ck.config
    changes = dict(changes or {})
    if changes.get("format") == "auto":  # the run's format was settled when it began
        del changes["format"]
    own = {name: getattr(cfg, name) for name in REPORTING}  # what the checkpoint keeps, whatever this resume says
    if changes.get("engine", "torch") != "torch":  # device and dtype are the torch engine's: leaving it drops them
        changes.setdefault("device", "auto")
        changes.setdefault("dtype", "auto")
    if changes.get("engine", "fast") != "fast":  # and fast_math the fast engine's
        changes.setdefault("fast_math", False)
    for name, value in sorted(changes.items()):
        if name != "data" and name not in RESUMABLE and value != getattr(cfg, name):
            raise MicroGPTError("--%s cannot change when resuming (the run has %s); start a new run with --out"
                                % (name.replace("_", "-"), getattr(cfg, name)))
        if name in RESUMABLE:
            setattr(cfg, name, value)
    from ..speed.workers import usable_cores  # (workers.py builds on this module)
    if "workers" not in changes and cfg.workers > 4 * usable_cores():
        cfg.workers = usable_cores()  # a run from a bigger machine: the count never changes a number
    cfg.validate()
    if cfg.steps <= ck.step:
        raise MicroGPTError("%s has already trained %d of %d steps; pass a larger --steps to train on"
                            % (run_dir, ck.step, cfg.steps))
    cost.check_training(cfg, ck.model.vocab_size, err=err, warn=False)  # the checkpoint's sizes, with the changes
    # the very same documents in the very same order, or the continuation would not be exact
    named = (cfg.data or "names") in download.DATASETS  # found again by name, wherever the cache is now
    path = changes.get("data") or (download.resolve(cfg.data, stream=err) if named else None)
    try:
        dataset = checkpoint.training_data(ck, path)
    except MicroGPTError as e:
        raise MicroGPTError("cannot resume: %s; pass --data FILE with the file this run trained on" % e)
    dataset.why = "as the run began"
    cost.check_dataset(cfg, dataset, err, steps_done=ck.step, lang=lang)
    model, optimizer, rng = checkpoint.restore(ck)
    keep, out, err = this_process(cfg, run_dir, out, err)
    run = run if keep else None
    stored = dataclasses.replace(cfg, **own)
    if run:
        run.start_resumed(ck.step, loaded)
        run.write_config(stored, model.config, dataset.info())
    return Training(cfg, dataset, model, optimizer, rng, ck.step, run, out, err, stored, lang).loop()


class Training:
    """A run in progress: what a checkpoint saves (config, model, optimizer, random stream, step), the
    data it trains on, and where it reports (stdout, the run directory, the progress line).

    `stored` is the config its checkpoints keep: cfg but for a resume's reporting settings (REPORTING).
    Its lines go to `out` through console.Lines: a reader that goes away (`| head`) costs the run nothing.
    `lang`: the language of its progress and warnings on `err`, and of its report (messages.py).
    """

    def __init__(self, cfg, dataset, model, optimizer, rng, step, run, out, err, stored=None, lang="en"):
        self.cfg, self.dataset, self.model, self.optimizer, self.rng = cfg, dataset, model, optimizer, rng
        self.stored = stored or cfg
        try:
            self.compute = make_compute(cfg, model, optimizer)
        except BaseException:
            if run:
                run.close()  # the lock, for whatever runs next in this process
            raise
        self.step, self.run, self.err, self.lang = step, run, err, lang
        self.say = Lines(out, err, lang)
        self.progress = Progress(err, step, cfg.steps, not cfg.quiet, lang)
        self.losses, self.val_loss, self.val_bpc, self.report = [], None, None, None
        self.tokens_seen, self.last_time = 0, time.time()
        self.eval_cost = None  # seconds per distinct prefix, from the last evaluation: see held_out

    def loop(self):
        """Train from self.step to cfg.steps, evaluating, saving and logging on the way; then sample."""
        self.failed = True  # until the loop ends well: a run that fails says so in one line, its report quietly
        self.replaced = self.finished = False
        try:
            with StopRequest() as self.request:
                self.train_and_save()
        finally:  # the StopRequest is over: a stop signal during the page ends it at once (the run is saved)
            if not self.replaced:  # nothing saved over the old run: its report stays
                self.final_report()
        return self.write_samples()

    def train_and_save(self):
        """The steps, the final evaluation and the save; a stop signal between steps saves and stops."""
        stop = self.request
        if hasattr(self.compute, "agreed"):  # several processes stop after the same step (torch_engine.py)
            stop = self.compute.agreed(stop)
        try:
            self.introduce()
            try:
                train_loop(self.cfg, self.dataset, self.compute, self.step, self.after_step, lambda: stop.requested,
                           self.rng)
            except Diverged as e:  # nothing is saved from here on: the last checkpoint stays good
                raise self.diverged(e.loss)
            self.progress.close()
            self.finish(stop)
            self.failed, self.finished = False, True
        except Interrupted:  # a stop signal between steps: saved, and its page is written as usual
            self.failed = False
            raise
        except ComputeError as e:  # a worker process died: the weights here are whole, but not saved
            self.progress.close()
            raise MicroGPTError("%s %s; stopped without saving: %s" % (e, self.where(), self.last_good()))
        except KeyboardInterrupt as e:  # a second signal, or one we could not defer: the step may be half done
            self.progress.close()
            signum = getattr(e, "signum", signal.SIGINT)
            raise Interrupted("%s %s; not saved: %s" % (stopped_by(signum), self.where(), self.last_good()),
                              signum=signum)
        finally:
            self.compute.close()
            self.replaced = self.run and self.run.replacing
            if self.run:
                self.run.close()

    def final_report(self):
        """The run's page as it ends. A stop signal while it is drawn (or since the last step's) skips it:
        the run is saved by then, and a page is not worth the wait."""
        signum = self.request.signum if self.finished and self.request.requested else None
        if signum is None:
            try:
                self.report = report.from_training(self, final=True, warn=not self.failed)
            except KeyboardInterrupt as e:
                signum = getattr(e, "signum", signal.SIGINT)
        if signum is not None and self.finished:  # else the error or the stop that ended the run is the news
            raise Interrupted("%s while writing the report; the run is complete%s (the report command draws its "
                              "page)" % (stopped_by(signum), self.saved_to()), signum=signum)

    def after_step(self, step, loss, batch):
        """What the tool does after each of the loop's steps: log, evaluate, save, show progress."""
        cfg = self.cfg
        self.step = step
        self.log_step(loss, batch)
        if cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.steps and self.dataset.num_held_out:
            self.progress.close()
            self.progress.val_loss, self.progress.val_bpc = self.held_out(self.dataset.held_out(cfg.eval_docs))
        if self.run and cfg.save_every and step % cfg.save_every == 0 and step < cfg.steps:
            self.run.save(self.snapshot())
        self.progress.update(step, loss)

    def where(self):
        if self.step < self.cfg.steps:
            return "during step %d of %d" % (self.step + 1, self.cfg.steps)
        return "after the last step, %d, in the final evaluation or save" % self.step

    # --- the loop's reporting

    def introduce(self):
        cfg, dataset = self.cfg, self.dataset
        self.say("config: %s" % cfg.describe())
        self.say("format: %s (%s)" % (dataset.format, dataset.why))
        if dataset.format == "text":
            self.say("text: %d characters; %d tokens to train on, %d held out (%d windows of %d)" % (
                len(dataset.text), len(dataset.train_tokens), len(dataset.val_tokens), dataset.num_held_out,
                cfg.block_size + 1))
        else:
            self.say("num docs: %d" % len(dataset.docs))
        self.say("vocab size: %d" % dataset.tokenizer.vocab_size)
        if cfg.tokenizer != "char":  # (the names run's lines stay as they were)
            self.say("tokenizer: %s" % tokenizers.describe(dataset.tokenizer, cfg.vocab_size))
        if dataset.format == "lines":
            self.warn_left_out()
        self.say("num params: %d" % self.model.num_params)
        if hasattr(self.compute, "describe"):  # where the arithmetic happens, when it is not plain Python
            self.say(self.compute.describe())
        if self.run:
            self.say("run dir: %s" % self.run.path + (" (resumed at step %d)" % self.step if self.step else ""))

    def warn_left_out(self):
        """Lines longer than the context are trained on their first block_size predictions only: say
        exactly how many tokens that leaves out, of the training documents and of the held-out ones."""
        dataset, block = self.dataset, self.cfg.block_size
        cut, total, past = dataset.left_out(dataset.train_docs, block)
        if not cut:
            return
        _, _, unscored = dataset.left_out(dataset.val_docs, block)
        print(t("warning: %d of %d training documents are longer than the context (block_size %d): %d of their %d "
                "tokens to predict (%.1f%%) lie past it and are never trained on%s; --format text reads the file as "
                "one text", self.lang) % (cut, len(dataset.train_docs), block, past, total, 100.0 * past / total,
                                          t(", and %d held-out tokens are not scored", self.lang) % unscored
                                          if unscored else ""), file=self.err)

    def log_step(self, loss, batch):
        self.losses.append(loss)
        self.tokens_seen += sum(self.model.config.predictions(t) for t in batch)
        step, cfg = self.step, self.cfg
        if step % cfg.log_every == 0 or step == cfg.steps:
            self.progress.close()
            self.say("step %4d / %4d | loss %.4f" % (step, cfg.steps, loss))
            now = time.time()
            if self.run:
                self.run.log({"step": step, "loss": loss, "lr": get_lr(cfg, step - 1),
                              "tokens_per_s": round(self.tokens_seen / max(now - self.last_time, 1e-9), 1)})
            self.tokens_seen, self.last_time = 0, now

    def held_out(self, batch):
        """The mean loss over `batch` (held-out documents or windows), logged; for a text also in bits per
        character (held_out_bpc). Returns (loss, bpc or None)."""
        dataset, text = self.dataset, self.dataset.format == "text"
        tokens = sum(self.model.config.predictions(f) for f in batch)
        unit = "windows" if text else "docs"
        self.progress.evaluating(self.step, len(batch), self.eval_seconds(batch), unit)
        loss = self.timed_evaluate(batch)
        self.progress.close()
        record, bpc = {"step": self.step, "val_loss": loss}, None
        if text:
            chars = dataset.characters(batch)
            bpc = held_out_bpc(loss, tokens, chars)
            record.update(val_bpc=bpc, val_windows=len(batch), val_tokens=tokens, val_chars=chars)
        else:
            record.update(val_docs=len(batch), val_tokens=tokens)
        self.say("eval %4d / %4d | held-out loss %.4f%s on %d of %d %s" % (
            self.step, self.cfg.steps, loss, " (%.4f bits per character)" % bpc if text else "", len(batch),
            dataset.num_held_out, unit))
        if self.run:
            self.run.log(record)
            if not self.run.replacing:  # the old run's page stays until the new run has a checkpoint
                report.from_training(self, final=False)
        return loss, bpc

    # An evaluation's cost grows with the distinct prefixes of its documents (evaluate.py's trie), so
    # seconds per prefix measured on one evaluation estimate the next. With none measured yet, a large
    # evaluation first times a small one (CALIBRATE documents, about 1% of the work on the names data).
    CALIBRATE = 32

    def timed_evaluate(self, batch):
        start = time.time()
        loss = self.compute.evaluate(batch)
        self.eval_cost = (time.time() - start) / max(prefixes(batch, self.model.config), 1)
        return loss

    def eval_seconds(self, batch):
        """About how long evaluating `batch` will take; None when too small to be worth knowing."""
        if self.progress.enabled and self.eval_cost is None and len(batch) > 8 * self.CALIBRATE:
            self.timed_evaluate(batch[:self.CALIBRATE])
        if self.eval_cost is None:
            return None
        return self.eval_cost * prefixes(batch, self.model.config)

    # --- checkpoints and the ways a run ends

    def snapshot(self):
        self.compute.sync()
        if not all(map(math.isfinite, self.model.params)):
            raise MicroGPTError("the weights became NaN or infinite at step %d; stopped without saving: %s; try a "
                                "smaller --lr" % (self.step, self.last_good()))
        vocab, merges = checkpoint.vocabulary(self.dataset.tokenizer)
        return checkpoint.Checkpoint(self.step, self.stored, self.model.config, vocab, self.dataset.info(),
                                     self.rng.getstate(), dict(self.optimizer.state(), name=self.optimizer.name),
                                     self.model.params, merges)

    def last_good(self):
        return self.run.last_good() if self.run else "no run dir"

    def diverged(self, loss):
        self.progress.close()
        return MicroGPTError("the loss became %s at step %d: training diverged; stopped without saving: %s; "
                             "try a smaller --lr" % (loss, self.step + 1, self.last_good()))

    def finish(self, stop):
        """After the last step (or a stop signal between steps): the final evaluation and save."""
        cfg, run = self.cfg, self.run
        if stop.requested:  # we are between two steps, so the state is whole
            said, signum = stopped_by(self.request.signum), self.request.signum
            if not run:
                raise Interrupted("%s at step %d of %d" % (said, self.step, cfg.steps), signum=signum)
            if run.replacing:  # --overwrite asked to replace a run by a new one, not by a few steps of it
                raise Interrupted("%s at step %d of %d, before the new run's first save; not saved: %s"
                                  % (said, self.step, cfg.steps, run.last_good()), signum=signum)
            run.save(self.snapshot())
            raise Interrupted("%s at step %d of %d; checkpoint saved to %s" % (said, self.step, cfg.steps,
                                                                               run.checkpoint),
                              resume_dir=run.path, signum=signum)
        if self.dataset.num_held_out:
            self.val_loss, self.val_bpc = self.held_out(self.dataset.held_out())
        if run:
            run.save(self.snapshot())
            self.say("saved: %s (step %d)" % (run.checkpoint, self.step))
        if stop.requested:  # a stop signal during the final evaluation: the run is complete, skip the samples
            raise Interrupted("%s after the last step; the run is complete%s"
                              % (stopped_by(self.request.signum), self.saved_to()), signum=self.request.signum)

    def saved_to(self):
        return "; checkpoint saved to %s" % self.run.checkpoint if self.run else ""

    def write_samples(self):
        """The samples after training, each printed as it is drawn; the run is saved by now, so a Ctrl-C
        or a closed stdout only ends the samples."""
        self.compute.sync()
        cfg = self.cfg
        decoder = getattr(self.compute, "decoder", None) or engine.cached_decoder  # the engine's own, if it has one
        try:
            names = self.print_samples(decoder)
        except KeyboardInterrupt as e:
            signum = getattr(e, "signum", signal.SIGINT)
            raise Interrupted("%s while sampling; the run is complete%s" % (stopped_by(signum), self.saved_to()),
                              signum=signum)
        if self.report:
            self.say("report: %s" % self.report)
        return {"model": self.model, "tokenizer": self.dataset.tokenizer, "losses": self.losses,
                "samples": names, "config": cfg, "rng": self.rng, "val_loss": self.val_loss, "val_bpc": self.val_bpc,
                "step": self.step, "run_dir": self.run.path if self.run else None}

    def print_samples(self, decoder):
        """Documents, as the reference prints them (its heading for the names, no marks), or passages of
        sampling.closing_length(block_size) tokens of a text, printed token by token."""
        cfg, tokenizer, n = self.cfg, self.dataset.tokenizer, self.cfg.num_samples
        if self.dataset.format == "text":
            if n:
                self.say("--- inference (samples of %d tokens, past the context of %d) ---"
                         % (sampling.closing_length(cfg.block_size), cfg.block_size))
            length = sampling.closing_length(cfg.block_size)
            return sampling.print_texts((sample.continue_text(self.model, tokenizer, self.rng, length,
                                                              cfg.temperature, decoder=decoder) for _ in range(n)),
                                        tokenizer, "", self.say)
        if n:
            names = self.dataset.sha256 == download.DATASETS["names"].sha256
            self.say("--- inference (new, hallucinated %s) ---" % ("names" if names else "samples"))
        drawn = (sample.generate(self.model, tokenizer, self.rng, cfg.temperature, decoder=decoder) for _ in range(n))
        return sampling.print_samples(drawn, set(self.dataset.train_docs), self.say, marks=False)


def held_out_bpc(loss, tokens, chars):
    """Bits per character: the nats of all the predicted tokens (mean loss times their count) over the
    characters they spell, in bits (1 nat = 1 / ln 2 bits). A char model's is its loss / ln 2; a model of
    longer tokens spends more nats per token on fewer tokens, and this is the scale on which both compare."""
    return loss * tokens / (math.log(2) * chars)


def prefixes(batch, model_config):
    """The distinct prefixes the model reads to score `batch`: the rows of evaluate.py's trie."""
    levels, _ = evaluate.trie([tokens[:model_config.predictions(tokens)] for tokens in batch])
    return sum(len(tokens) for tokens, _ in levels)
