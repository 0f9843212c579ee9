"""The console: what a run shows a person, and how it stops when asked.

- Lines: stdout that its reader may close (`microgpt train | head -3`) without costing the run;
- Progress: step, loss, speed and time left on stderr, redrawn in place on a terminal;
- StopRequest: the first Ctrl-C (or SIGTERM, SIGHUP) asks the loop to stop between two steps, so that what
  is saved is whole; like_ctrl_c: SIGTERM and SIGHUP end any other work as Ctrl-C does;
- Interrupted: how a stopped run tells the command line what was saved and how to continue;
- visible: text from the data (samples, a vocabulary) as a terminal should show it, never obey it.
"""

import contextlib
import errno
import os
import shutil
import signal
import sys
import threading
import time
import unicodedata

from .messages import t

# --------------------------------------------------------------------------------------------------
# text from the data, shown and not obeyed

# What a terminal obeys rather than shows: the C0 and C1 controls (ESC begins the sequences that retitle a
# window or clear the screen, BEL rings), the line and paragraph separators, and the bidirectional marks,
# overrides and isolates, which reorder the rest of the line.
OBEYED = ("Cc", "Cs", "Zl", "Zp")
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def visible(text):
    """`text` with each character a terminal would obey written as its escape (ESC as \\x1b, U+202E as
    \\u202e), as the error line does; a tab stays a tab. Text with none is returned as it is."""
    if text.isprintable():
        return text
    return "".join(c.encode("unicode_escape").decode("ascii")
                   if c != "\t" and (c in BIDI or unicodedata.category(c) in OBEYED) else c for c in text)


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
    A closed pipe is quiet; any other failure to write (a full disk) is one warning on `err`, in `lang`."""

    def __init__(self, stream=None, err=None, lang="en"):
        self.stream, self.err, self.closed, self.lang = stream, err, False, lang
        self.failed = None  # the error, if the lines stopped for any reason but their reader going away

    def __call__(self, line, end="\n"):
        if self.closed:
            return
        e = write(sys.stdout if self.stream is None else self.stream, line + end)
        if e is not None:
            self.closed = True
            if not (isinstance(e, OSError) and closed_pipe(e)):
                self.failed = e
                if self.err is not None:
                    write(self.err, t("warning: cannot write the output (%s); going on without it", self.lang) % e
                          + "\n")


# --------------------------------------------------------------------------------------------------
# progress on stderr

class Progress:
    """Step, loss, held-out loss, speed and time left, on stderr.

    On a terminal: one line redrawn in place (at most 10 times a second), cut to the terminal's width, since
    a line that wraps can no longer be redrawn. Elsewhere (a log file, a pipe, a terminal that says it is
    dumb): a plain line every PLAIN_EVERY seconds, so a long job shows it is alive without flooding the log.
    No colour is used, so NO_COLOR is honoured trivially. The words are in `lang` (messages.py).
    """
    PLAIN_EVERY = 5.0
    SLOW_EVAL = 3.0  # seconds: an evaluation expected to take longer is announced
    EVALUATING = {"docs": "step %d/%d | evaluating on %d held-out docs, about %s",
                  "windows": "step %d/%d | evaluating on %d held-out windows, about %s"}

    def __init__(self, stream, first, total, enabled, lang="en"):
        self.stream, self.first, self.total, self.lang = stream, first, total, lang
        self.enabled = enabled
        self.live = enabled and redraws(stream)
        self.start = self.last = time.time()
        self.val_loss = self.val_bpc = None  # the last held-out loss, and for a text its bits per character

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
        lang = self.lang
        held = t(" | held-out %.4f", lang) % self.val_loss if self.val_loss is not None else ""
        held += t(" (%.3f bpc)", lang) % self.val_bpc if self.val_bpc is not None else ""
        self.show(t("step %d/%d | loss %.4f%s | %.1f steps/s | ETA %s", lang) % (
            step, self.total, loss, held, rate, minutes(eta, lang)))

    def evaluating(self, step, docs, seconds, unit="docs"):
        """Before an evaluation that will take a while: how many documents (or windows), and about how long."""
        if self.enabled and seconds is not None and seconds >= self.SLOW_EVAL:
            self.show(t(self.EVALUATING[unit], self.lang) % (step, self.total, docs, minutes(seconds, self.lang)))

    def show(self, line):
        # the last column stays empty: some terminals wrap as soon as it is written
        self.write("\r\033[K" + line[:max(columns(self.stream) - 1, 1)] if self.live else line + "\n")

    def write(self, text):
        if write(self.stream, text) is not None:  # stderr gone too (`2>&1 | head`): the run goes on without it
            self.enabled = self.live = False

    def close(self):
        if self.live:
            self.write("\r\033[K")


def minutes(seconds, lang="en"):
    return t("%dm%02ds", lang) % (seconds // 60, seconds % 60)


def redraws(stream):
    """Whether `stream` is a terminal that redraws a line in place (a carriage return, then ESC [K to clear
    it): not a file or pipe, nor a terminal that calls itself dumb (TERM=dumb: Emacs' shell, some CI logs),
    which would show the escape code as text."""
    try:
        return bool(stream.isatty()) and os.environ.get("TERM") != "dumb"
    except (AttributeError, OSError, ValueError):  # not a real file, or one closed
        return False


def columns(stream):
    """The width of the terminal `stream` writes to: $COLUMNS if set, else that terminal's own (stdout
    may be a pipe while stderr is the terminal), else shutil's answer (80 when nothing says)."""
    if not os.environ.get("COLUMNS"):
        try:
            width = os.get_terminal_size(stream.fileno()).columns
            if width > 0:
                return width
        except (AttributeError, OSError, ValueError):
            pass
    return shutil.get_terminal_size().columns


# --------------------------------------------------------------------------------------------------
# Ctrl-C, and the signals that mean the same: stop between steps, never in the middle of one

# What asks a run to stop: Ctrl-C (SIGINT); SIGTERM from `timeout`, `kill`, `docker stop` or a job scheduler's
# preemption; SIGHUP when the terminal or the ssh session closes. Each is answered as Ctrl-C is, and the exit
# code is the shell's convention for it, 128 + its number: 130, 143, 129. (Windows has no SIGHUP.)
STOPS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def stopped_by(signum):
    """The words for a stop by `signum`: "interrupted" for Ctrl-C, else "stopped by SIGTERM" (or SIGHUP)."""
    return "interrupted" if signum in (None, signal.SIGINT) else "stopped by %s" % signal.Signals(signum).name


class Signalled(KeyboardInterrupt):
    """A stop signal ending whatever runs at once, as Ctrl-C's KeyboardInterrupt does; `signum` says which."""

    def __init__(self, signum, *args):
        super().__init__(*args)
        self.signum = signum


def raise_stop(signum, frame):
    raise Signalled(signum)


def usual(signum):
    """Whether `signum` still has its usual meaning here: Python's KeyboardInterrupt for SIGINT, death for
    the others (or the KeyboardInterrupt like_ctrl_c gives them). One ignored (nohup) or taken over by the
    program around us is left alone."""
    handler = signal.getsignal(signum)
    return handler is raise_stop or handler is (signal.default_int_handler if signum == signal.SIGINT
                                                else signal.SIG_DFL)


@contextlib.contextmanager
def like_ctrl_c():
    """While active, SIGTERM and SIGHUP do what Ctrl-C does: end what is running with a KeyboardInterrupt (a
    Signalled), which the command turns into its one line (a training run saves first: StopRequest)."""
    taken = []
    if threading.current_thread() is threading.main_thread():
        for signum in STOPS:
            if signum != signal.SIGINT and signal.getsignal(signum) is signal.SIG_DFL:
                signal.signal(signum, raise_stop)
                taken.append(signum)
    try:
        yield
    finally:
        for signum in taken:
            signal.signal(signum, signal.SIG_DFL)


def ignore_stops():
    """Once a command's work is done: a stop signal now would only interrupt Python's own shutdown."""
    for signum in STOPS:
        signal.signal(signum, signal.SIG_IGN)


class Interrupted(KeyboardInterrupt):
    """Training (or a download) stopped by a signal; the message says what was saved, resume_dir where to
    continue from, signum which signal: the CLI exits with 128 + signum (130 for Ctrl-C)."""

    def __init__(self, message, resume_dir=None, signum=signal.SIGINT):
        super().__init__(message)
        self.resume_dir, self.signum = resume_dir, signum
        self.prog = "microgpt"  # the CLI puts here the command the user typed (python -m microgpt, ...)

    def __str__(self):
        hint = "; continue with: %s train --resume %s" % (self.prog, self.resume_dir) if self.resume_dir else ""
        return self.args[0] + hint


class StopRequest:
    """While active, the first stop signal (Ctrl-C, SIGTERM, SIGHUP: STOPS) only raises a flag that the loop
    reads between steps, so the weights and Adam's moments are saved whole, never half updated. A second
    one interrupts at once (a Signalled). `signum` is the last one received.

    Signal handlers belong to the main thread; elsewhere, or for a signal that the program around us has
    taken over (or that is ignored, as under nohup), the signal keeps its meaning.
    """

    def __init__(self):
        self.requested = False
        self.signum = None
        self.installed = {}  # signum -> the handler it had

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in STOPS:
                if usual(signum):
                    self.installed[signum] = signal.signal(signum, self.handle)
        return self

    def handle(self, signum, frame):
        self.signum = signum
        if self.requested:
            raise Signalled(signum)
        self.requested = True

    def __exit__(self, *exc):
        for signum, handler in self.installed.items():
            signal.signal(signum, handler)
        self.installed = {}
