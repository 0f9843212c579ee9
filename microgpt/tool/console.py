"""The console: what a run shows a person, and how it stops when asked.

- Lines: stdout that its reader may close (`microgpt train | head -3`) without costing the run;
- Progress: step, loss, speed and time left on stderr, redrawn in place on a terminal;
- StopRequest: the first Ctrl-C asks the loop to stop between two steps, so that what is saved is whole;
- Interrupted: how a stopped run tells the command line what was saved and how to continue.
"""

import errno
import os
import signal
import sys
import threading
import time

# --------------------------------------------------------------------------------------------------
# stdout that its reader may close

def closed_pipe(e):
    """Whether an OSError from a write means the reader has gone (`| head` has read what it wanted)."""
    return isinstance(e, BrokenPipeError) or e.errno == errno.EPIPE or (os.name == "nt" and e.errno == errno.EINVAL)


def silence(stream):
    """Point `stream`'s file descriptor at os.devnull, so that what is still in its buffer, and the
    interpreter's flush at exit, go nowhere instead of failing again ("Exception ignored ... BrokenPipeError")."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a StringIO): nothing flushes it at exit
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
    except OSError:
        pass


def write(stream, text):
    """Write and flush `text`; None if that worked, else the error, with `stream` silenced so that nothing
    fails again on it (a ValueError: a stream this process closed)."""
    try:
        stream.write(text)
        stream.flush()
        return None
    except (OSError, ValueError) as e:
        silence(stream)
        return e


class Lines:
    """say(line): print to `stream` (default: sys.stdout at the time), whose reader may go away. Then the
    lines stop, `closed` is set, and the caller goes on (training trains on and saves) or stops (sampling).
    A closed pipe is quiet; any other failure to write (a full disk) is one warning on `err`."""

    def __init__(self, stream=None, err=None):
        self.stream, self.err, self.closed = stream, err, False
        self.failed = None  # the error, if the lines stopped for any reason but their reader going away

    def __call__(self, line):
        if self.closed:
            return
        e = write(sys.stdout if self.stream is None else self.stream, line + "\n")
        if e is not None:
            self.closed = True
            if not (isinstance(e, OSError) and closed_pipe(e)):
                self.failed = e
                if self.err is not None:
                    write(self.err, "warning: cannot write the output (%s); going on without it\n" % e)


# --------------------------------------------------------------------------------------------------
# progress on stderr

class Progress:
    """Step, loss, held-out loss, speed and time left, on stderr.

    On a terminal: one line redrawn in place (at most 10 times a second). Elsewhere (a log file, a pipe):
    a plain line every PLAIN_EVERY seconds, so a long job shows it is alive without flooding the log.
    No colour is used, so NO_COLOR is honoured trivially.
    """
    PLAIN_EVERY = 5.0
    SLOW_EVAL = 3.0  # seconds: an evaluation expected to take longer is announced

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
        self.show("step %d/%d | loss %.4f%s | %.1f steps/s | ETA %s" % (
            step, self.total, loss, held, rate, minutes(eta)))

    def evaluating(self, step, docs, seconds):
        """Before an evaluation that will take a while: how many documents, and about how long."""
        if self.enabled and seconds is not None and seconds >= self.SLOW_EVAL:
            self.show("step %d/%d | evaluating on %d held-out docs, about %s" % (step, self.total, docs,
                                                                              minutes(seconds)))

    def show(self, line):
        self.write("\r\033[K" + line if self.live else line + "\n")

    def write(self, text):
        if write(self.stream, text) is not None:  # stderr gone too (`2>&1 | head`): the run goes on without it
            self.enabled = self.live = False

    def close(self):
        if self.live:
            self.write("\r\033[K")


def minutes(seconds):
    return "%dm%02ds" % (seconds // 60, seconds % 60)


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
