"""What makes training a tool rather than a script: the run directory, the progress line, and Ctrl-C.

Not part of the learning path: train.py calls these and reads the same without them.

- RunDir: checkpoint.json, metrics.jsonl and config.json of one run, written so that a crash at any
  moment leaves the last good checkpoint in place;
- Progress: step, loss, speed and time left on stderr, redrawn in place on a terminal;
- StopRequest: the first Ctrl-C asks the loop to stop between two steps, so that what is saved is whole.
"""

import json
import os
import signal
import threading
import time
from dataclasses import asdict

from . import __version__, checkpoint
from .errors import MicroGPTError
from .files import write_atomic

CHECKPOINT, METRICS, CONFIG = "checkpoint.json", "metrics.jsonl", "config.json"


# --------------------------------------------------------------------------------------------------
# the run directory

def default_run_dir(data_path, root="runs"):
    """runs/<dataset name>, e.g. runs/names; if that already holds a run, runs/names-2, -3, ...

    Only the default gets this courtesy: an explicit --out that holds a run is an error (see RunDir).
    """
    stem = os.path.splitext(os.path.basename(data_path))[0] if data_path else "names"
    folder, n = os.path.join(root, stem or "run"), 1
    while os.path.exists(os.path.join(folder, CHECKPOINT)):
        n += 1
        folder = os.path.join(root, "%s-%d" % (stem, n))
    return folder


def last_run(root="runs"):
    """The run under `root` trained most recently (its checkpoint.json is the newest), else root/names:
    the run `sample` and `report` use when none is named."""
    newest = None
    try:
        names = sorted(os.listdir(root))
    except OSError:
        names = []
    for name in names:
        try:
            mtime = os.stat(os.path.join(root, name, CHECKPOINT)).st_mtime_ns
        except OSError:
            continue
        if newest is None or mtime > newest[0]:
            newest = (mtime, os.path.join(root, name))
    return newest[1] if newest else os.path.join(root, "names")


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
            write_atomic(self.metrics, "".join(kept))
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
            write_atomic(self.config, text)
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
    """Training stopped on Ctrl-C; the message says what was saved, resume_dir where to continue from.
    The CLI exits with 130."""

    def __init__(self, message, resume_dir=None):
        super().__init__(message)
        self.resume_dir = resume_dir
        self.prog = "microgpt"  # the CLI puts here the command the user typed (python -m microgpt, ...)

    def __str__(self):
        hint = "; continue with: %s train --resume %s" % (self.prog, self.resume_dir) if self.resume_dir else ""
        return self.args[0] + hint


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
