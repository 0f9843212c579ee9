"""Run directories: checkpoint.json, metrics.jsonl and config.json of one run, and its lock.

Written so that a crash at any moment leaves the last good checkpoint in place; only ever the run's (a
folder of other files is refused), and only one run's at a time (run.lock). The console (lines,
progress, Ctrl-C) is console.py.
"""

import errno
import json
import os
import re
import shlex
import socket
import stat
import time
from dataclasses import asdict

try:  # a lock the operating system drops when its process ends, however it ends (kill -9 too)
    import fcntl
except ImportError:  # Windows
    fcntl = None
try:
    import msvcrt
except ImportError:
    msvcrt = None

from .. import __version__
from ..errors import MicroGPTError
from . import checkpoint
from .files import json_text, open_folder, read_bytes, write_atomic
from .messages import LANGS, t

CHECKPOINT, METRICS, CONFIG = "checkpoint.json", "metrics.jsonl", "config.json"
# A line of metrics.jsonl is ~100-200 bytes, one per logged step: 256 MiB is a million steps or more
# logged, and its records as Python dicts take several times that in memory.
METRICS_LIMIT = 256 << 20
LOCK = "run.lock"  # held by the one process writing the run
REPORT = "report.html"  # report.REPORT, written into the run by training and by `microgpt report`
EXPORT = "model.safetensors"  # what `microgpt export` writes beside the checkpoint unless told otherwise
PENDING = ".metrics.jsonl.overwrite"  # an --overwrite run's metrics until its first save
# an --overwrite run's first save under way: the old checkpoint's identity() and the new run's config.json, so
# that a run killed between its first checkpoint and the metrics and config that go with it is finished by
# the next one to take the lock (RunDir.finish_takeover)
JOURNAL = ".overwrite.json"
# what files.write_atomic leaves behind when killed mid-write: .<name>.<pid>.<hex>.tmp
STRAY = re.compile(r"^\.(checkpoint\.json|metrics\.jsonl|config\.json|report\.html|\.overwrite\.json)"
                   r"\.\d+\.[0-9a-f]+\.tmp$")


# --------------------------------------------------------------------------------------------------
# the run directory

def default_stem(data_path):
    """The name of a data file's default runs: its name without the extension ("names" for the download)."""
    return (os.path.splitext(os.path.basename(data_path))[0] if data_path else "names") or "run"


def default_run_dir(data_path, root="runs"):
    """runs/<dataset name>, e.g. runs/names; if that already holds a run, runs/names-2, -3, ...

    Only the default gets this courtesy: an explicit --out that holds a run is an error (see RunDir).
    Every run is kept, as a user who compares two runs wants; default_runs lists them for the one line
    that says where the new one went and how to remove an old one.
    """
    stem = default_stem(data_path)
    folder, n = os.path.join(root, stem), 1
    while os.path.exists(os.path.join(folder, CHECKPOINT)) or foreign_files(folder) or in_use(folder):
        n += 1
        folder = os.path.join(root, "%s-%d" % (stem, n))
    return folder


def default_runs(data_path, root="runs"):
    """The default run directories of a data file that hold a run (runs/names, runs/names-2, ...), in order."""
    stem = default_stem(data_path)
    name = re.compile(re.escape(stem) + r"(?:-([0-9]+))?\Z")
    try:
        found = [(int(m.group(1) or 1), m.group(0)) for m in map(name.match, os.listdir(root)) if m]
    except OSError:  # no runs/ at all
        return []
    return [os.path.join(root, folder) for _, folder in sorted(found)
            if os.path.isfile(os.path.join(root, folder, CHECKPOINT))]


def where_it_went(run_dir, data_path, root="runs"):
    """For a default run kept beside earlier ones: one line naming its folder, the earlier ones and how to
    remove one; None when it is the only one (the first run prints nothing more)."""
    earlier = [d for d in default_runs(data_path, root) if os.path.normpath(d) != os.path.normpath(run_dir)]
    if not earlier:
        return None
    shown = ", ".join(earlier) if len(earlier) <= 3 else "%s, ..., %s" % (", ".join(earlier[:2]), earlier[-1])
    return ("run dir: %s, kept beside %d earlier run%s of %s (%s); remove one you no longer need with: rm -r %s" % (
        run_dir, len(earlier), "s" * (len(earlier) > 1), default_stem(data_path), shown, shlex.quote(earlier[0])))


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


def ours(config_path):
    """Whether the config.json at `config_path` is one a run wrote (an object naming the microgpt version)."""
    try:  # read as any user's file is: a FIFO in its place must not block (a run's config is a few KB)
        record = json.loads(read_bytes(config_path, "config file", 1 << 20).decode("utf-8"))
    except (MicroGPTError, ValueError, RecursionError):
        return False
    return isinstance(record, dict) and "microgpt" in record and "config" in record


# how each file a run writes begins: a user's own metrics.jsonl or report.html (or another tool's
# checkpoint.json) must not be taken for a run's, and then overwritten as one
HEADS = {CHECKPOINT: b'{"format": "microgpt-checkpoint"', METRICS: b'{"step": ', PENDING: b'{"step": ',
         JOURNAL: b'{"replaces": ', LOCK: b'{"pid": ', REPORT: b"<!DOCTYPE html>",
         EXPORT: b'{"__metadata__":{"format":"microgpt"'}  # after safetensors' 8 bytes of header length
# how report.py's page begins its <title>, in each language it is written in
TITLES = tuple(("<title>" + t("MicroGPT run %s", lang) % "").encode("utf-8") for lang in LANGS)


def looks_ours(path):
    """Whether the file at `path` is one a run of ours wrote, from its first bytes. Never a symbolic link
    (writing the run would write through it to whatever it names), a FIFO or anything but a file."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    name = os.path.basename(path)
    if name == REPORT:
        return head.startswith(HEADS[REPORT]) and any(title in head for title in TITLES)
    if name == EXPORT:
        return head[8:].startswith(HEADS[EXPORT])
    return head.startswith(HEADS[name]) or (not head and name in (METRICS, PENDING, LOCK))  # begun, nothing yet


def foreign_files(folder):
    """The entries of `folder` that show it is not a MicroGPT run, sorted; [] for a run or an empty or
    missing folder. A run has a checkpoint or a config.json of ours; a folder holding only what a run
    killed before its first save leaves (metrics, lock, temp files, each as a run writes it) is one too."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    if (CHECKPOINT in names and looks_ours(os.path.join(folder, CHECKPOINT))) or \
            (CONFIG in names and ours(os.path.join(folder, CONFIG))):
        return []
    return [n for n in names if not STRAY.match(n)
            and not (n in (METRICS, LOCK, REPORT, PENDING, JOURNAL) and looks_ours(os.path.join(folder, n)))]


def not_ours(folder):
    """The files in `folder` that a run writes over (metrics.jsonl, config.json, report.html, run.lock)
    but that no run wrote: a user's own, beside a checkpoint copied in. Sorted; [] if there are none."""
    found = []
    for name in (CONFIG, LOCK, METRICS, REPORT):
        path = os.path.join(folder, name)
        try:
            regular = stat.S_ISREG(os.stat(path).st_mode)
        except OSError:
            continue  # not there, or a link to nothing
        if not regular or (name == LOCK and os.path.islink(path)):
            continue  # a FIFO, a device, a folder, a link as run.lock: what reads it says what it is
        if not (ours(path) if name == CONFIG else looks_ours(path)):
            found.append(name)
    return found


def refuse_not_ours(folder, what):
    """A one-line MicroGPTError if `what` (a run, a report) would replace a file in `folder` that no run wrote."""
    found = not_ours(folder)
    if found:
        raise MicroGPTError("%s holds %s that MicroGPT did not write, and %s would replace %s; nothing was written: "
                            "move %s out of the folder first" % (folder, " and ".join(found), what,
                                                                 "them" if len(found) > 1 else "it",
                                                                 "them" if len(found) > 1 else "it"))


def identity(path):
    """What changes when a file is replaced or rewritten (its inode, size and time), or None if it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def folder_identity(path):
    """What names a folder wherever it is moved (its device and inode), or None if nothing is at `path`."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def find_folder(folder, old, fd=None):
    """Where the folder whose folder_identity() is `folder`, once at `old`, is now: through the open file `fd`
    in it (Linux names its path in /proc/self/fd), else among the folders beside `old` (mv A B); None if
    neither finds it. The path is relative, as the user's was, when `old` was."""
    candidates = []
    if fd is not None:
        try:
            candidates.append(os.path.dirname(os.readlink("/proc/self/fd/%d" % fd)))
        except OSError:
            pass
    parent = os.path.dirname(os.path.abspath(old))
    try:
        candidates += [os.path.join(parent, name) for name in sorted(os.listdir(parent))]
    except OSError:
        pass
    for path in candidates:
        if folder_identity(path) == folder:
            try:
                return path if os.path.isabs(old) else os.path.relpath(path)
            except ValueError:  # Windows: on another drive than the working folder
                return path
    return None


LOCKED_BYTE = 1 << 30  # Windows locks byte ranges: one far past the holder's note, which stays readable


def hold(fd):
    """Take the operating system's lock on the open file `fd` without waiting: False if another process
    holds it. Where the file system cannot lock at all, True: the run goes on unguarded."""
    try:
        if fcntl:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        elif msvcrt:
            os.lseek(fd, LOCKED_BYTE, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, getattr(errno, "EDEADLOCK", errno.EDEADLK)):
            return False
    return True


def unhold(fd):
    if msvcrt and not fcntl:  # flock ends with its file; Windows asks for the range to be unlocked first
        try:
            os.lseek(fd, LOCKED_BYTE, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass
    os.close(fd)


def in_use(folder):
    """Whether another process holds `folder`'s run.lock (a lock file alone, left by a killed run, is not)."""
    try:
        fd = os.open(os.path.join(folder, LOCK), os.O_RDWR)
    except OSError:
        return False
    free = hold(fd)
    unhold(fd)
    return not free


def read_metrics(path):
    """The records of a metrics.jsonl, in order: each line that is a JSON object with a whole "step".
    A line cut short by a crash, or anything else, is skipped; a missing file has none. The file is read
    as files.read_bytes reads any file: a FIFO or /dev/zero in its place is refused, not waited on."""
    if not os.path.lexists(path):
        return []
    records = []
    for line in read_bytes(path, "metrics file", METRICS_LIMIT).decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue
        step = record.get("step") if isinstance(record, dict) else None
        if isinstance(step, int) and not isinstance(step, bool) and 0 <= step <= 10 ** 12:  # as a run writes it
            records.append(record)
    return records


class Lock:
    """run.lock: a run directory is written by one process at a time.

    What counts is the operating system's lock on the file (flock; msvcrt.locking on Windows), not the
    file being there: the OS drops the lock when its process ends, however it ends, so the file a run
    killed with kill -9 leaves behind is simply taken over. The file holds the holder's pid, host and
    start time, for the message the next one gets."""

    def __init__(self, folder):
        self.path = os.path.join(folder, LOCK)
        self.fd = None

    def acquire(self):
        """True if the lock is now ours; False if another process holds it."""
        if os.path.lexists(self.path) and not stat.S_ISREG(os.lstat(self.path).st_mode):
            raise MicroGPTError("%s is not a plain file (a link, a folder or a FIFO), so it cannot be this run's "
                                "lock; remove it, or choose another folder" % self.path)
        while True:  # O_NOFOLLOW: a link put there meanwhile is refused (ELOOP), not written through
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
            if not hold(fd):
                os.close(fd)
                return False
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except OSError:
                same = False
            if same:
                break
            unhold(fd)  # the holder removed the file just as we opened it: lock the one there now
        note = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, (json.dumps(note) + "\n").encode("utf-8"))
        except OSError:  # a full disk: the lock is not taken, and its empty file not left behind
            self.fd = fd
            self.release()
            raise
        self.fd = fd
        return True

    def holder(self):
        """Who holds the lock, from its note: "pid 123 on host, since 2024-05-01 12:00:00"."""
        try:
            note = json.loads(read_bytes(self.path, "lock file", 1 << 16).decode("utf-8").split("\n")[0])
            return "pid %s on %s, since %s" % (note["pid"], note["host"], note["since"])
        except (MicroGPTError, ValueError, KeyError, TypeError):
            return "its lock is %s" % self.path

    def release(self):
        if self.fd is None:
            return
        try:  # while still held, so that no one locks a file about to vanish (see acquire); only our own: a run
            # whose folder was moved finds another run's lock at the old path, maybe
            if os.path.samestat(os.fstat(self.fd), os.stat(self.path)):
                os.remove(self.path)
        except OSError:
            pass  # Windows removes no open file: then after closing it
        unhold(self.fd)
        self.fd = None
        if os.path.exists(self.path) and not fcntl:
            try:
                os.remove(self.path)
            except OSError:
                pass


class RunDir:
    """checkpoint.json, metrics.jsonl and config.json of one run, written by one process at a time (run.lock).

    Fresh, in a new or empty folder or one holding a run (that one only with overwrite); with overwrite
    the run that was there stays whole, metrics and config included, until the new run's first save.
    """

    def __init__(self, path):
        self.lock = Lock(path)
        self.place(path)
        self.folder = None  # folder_identity() of the folder once its lock is ours: see follow
        self.dir_fd = None  # the folder, open, once its lock is ours: saves land in it wherever it is moved
        self.log_file = None
        self.saved_step = None  # the step of the last checkpoint known to be good
        self.replacing = False  # overwrite, before the first save: the old run is still the folder's
        self.pending_config = None  # the new run's config.json, written at its first save
        self.resuming = False

    def place(self, path):
        self.path = path
        self.checkpoint = os.path.join(path, CHECKPOINT)
        self.metrics = os.path.join(path, METRICS)
        self.config = os.path.join(path, CONFIG)
        self.pending = os.path.join(path, PENDING)
        self.journal = os.path.join(path, JOURNAL)
        self.lock.path = os.path.join(path, LOCK)

    def follow(self):
        """The folder renamed (mv A B) while the run goes on keeps the run, lock and all: the run writes to B
        from then on, never to the path A, where another run may have begun since. Raises if it is gone."""
        if self.folder is None or folder_identity(self.path) == self.folder:
            return
        moved = find_folder(self.folder, self.path, self.lock.fd)
        if moved is None:
            raise MicroGPTError("the run directory %s was moved or removed while the run went on, and is nowhere to "
                                "be found; stopped without saving" % self.path)
        self.place(moved)

    def start_fresh(self, overwrite):
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise MicroGPTError("cannot use %s as the run directory: it is a file" % self.path)
        other = foreign_files(self.path)
        if other:
            shown = ", ".join(other[:3]) + (" and %d more" % (len(other) - 3) if len(other) > 3 else "")
            raise MicroGPTError("--out %s is not empty and is not a MicroGPT run (it holds %s); nothing was "
                                "written: choose a new or empty folder with --out" % (self.path, shown))
        refuse_not_ours(self.path, "a new run")  # a run's folder, but with a file of the user's in it
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as e:
            raise self.unwritable(e)

        def open_log():
            if os.path.exists(self.checkpoint) and not overwrite:
                raise MicroGPTError("%s already holds a run; continue it with --resume %s, or pass --overwrite "
                                    "to replace it, or choose another --out" % (self.path, self.path))
            self.replacing = os.path.exists(self.checkpoint)
            return open(self.pending if self.replacing else self.metrics, "w", encoding="utf-8")
        self.open_locked(open_log)

    def start_resumed(self, step, loaded=None):
        """Keep the metrics up to the checkpoint's step: later ones belong to steps about to be redone.

        `loaded` is identity() of the checkpoint as it was read, before the lock was ours: another
        process may have saved over it meanwhile, and continuing the old one would undo that run."""
        self.resuming = True
        refuse_not_ours(self.path, "the resumed run")

        def open_log():
            if loaded is not None and identity(self.checkpoint) != loaded:
                raise MicroGPTError("%s changed while this resume was starting (another run saved it); nothing "
                                    "was written: resume again to continue from the new checkpoint" % self.checkpoint)
            self.keep_metrics(step)
            return open(self.metrics, "a", encoding="utf-8")
        self.open_locked(open_log)
        self.saved_step = step

    def open_locked(self, open_log):
        """Take the run's lock, then the metrics log from open_log(); whatever fails lets the lock go."""
        self.take_lock()
        try:
            self.finish_takeover()
            self.clean_strays()
            self.log_file = open_log()
        except OSError as e:
            self.close()
            raise self.unwritable(e)
        except BaseException:
            self.close()
            raise

    def keep_metrics(self, step):
        kept = [json.dumps(r) + "\n" for r in read_metrics(self.metrics) if r["step"] <= step]
        write_atomic(self.metrics, "".join(kept))

    def take_lock(self):
        try:
            mine = self.lock.acquire()
        except OSError as e:
            raise self.unwritable(e)
        if not mine:
            then = "then resume it" if self.resuming else "or choose another --out"
            raise MicroGPTError("%s is in use by another training run (%s); wait for it to end, %s"
                                % (self.path, self.lock.holder(), then))
        self.folder = folder_identity(self.path)
        self.dir_fd = open_folder(self.path)
        try:  # the folder the lock is in (not one put at the path since): else by path, as on Windows
            ours = os.path.samestat(os.stat(LOCK, dir_fd=self.dir_fd), os.fstat(self.lock.fd))
        except (OSError, TypeError):  # (TypeError: no folder open)
            ours = False
        if self.dir_fd is not None and not ours:
            os.close(self.dir_fd)
            self.dir_fd = None

    def entry(self, name):
        """`name` in the run's folder: in the open folder (dir_fd) wherever it is now, else by path."""
        return name if self.dir_fd is not None else os.path.join(self.path, name)

    def finish_takeover(self):
        """An --overwrite run killed during its first save (kill -9, a power cut) left its journal. If its
        checkpoint is in place (not the one the journal names), its metrics and config follow it now; if not,
        the old run stays whole, and clean_strays removes the new run's metrics."""
        if not looks_ours(self.journal):  # none, or not ours to read or remove
            return
        try:
            note = json.loads(read_bytes(self.journal, "journal", 1 << 20).decode("utf-8"))
            saved = identity(self.checkpoint)
            replaced = saved is not None and list(saved) != note["replaces"]
            config = note["config"]
        except (MicroGPTError, ValueError, KeyError, TypeError):  # cut short while written: the save never began
            replaced = False
        if replaced:
            if os.path.lexists(self.pending):
                os.replace(self.pending, self.metrics)
            if config is not None:
                write_atomic(self.config, config)
            self.remove_old_outputs()
        os.remove(self.journal)

    def clean_strays(self):
        """Remove what a run killed mid-save leaves: write_atomic's temp files, an overwrite's pending
        metrics. They are ours to remove, the lock being held; but a report's may be `microgpt report`
        writing at this moment: only old ones go."""
        try:
            names = os.listdir(self.path)
        except OSError:
            return
        for name in names:
            if not (STRAY.match(name) or name == PENDING):
                continue
            path = os.path.join(self.path, name)
            try:
                if name.startswith("." + REPORT) and time.time() - os.stat(path).st_mtime < 60:
                    continue
                os.remove(path)
            except OSError:
                pass

    def unwritable(self, e):
        why = getattr(e, "strerror", None) or e
        if getattr(e, "errno", None) in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            return MicroGPTError("cannot write to the run directory %s: %s; free some space on that disk, then %s"
                                 % (self.path, why, "resume it" if self.resuming else
                                    "train again (or choose another disk with --out DIR)"))
        if self.resuming:  # a run continues where it is: --out is for new runs
            return MicroGPTError("cannot write to the run directory %s: %s; make it writable, or copy the run to "
                                 "a folder you can write to and resume that" % (self.path, why))
        return MicroGPTError("cannot write to the run directory %s: %s; choose another with --out DIR"
                             % (self.path, why))

    def write_config(self, cfg, model_config, data_info):
        text = json_text({"microgpt": __version__, "config": asdict(cfg), "model": asdict(model_config),
                          "data": data_info}, indent=2) + "\n"
        if self.replacing:
            self.pending_config = text
            return
        try:
            write_atomic(self.config, text)
        except OSError as e:
            self.close()  # the run ends here: its lock too, for whatever runs next in this process
            raise self.unwritable(e)

    def log(self, record):
        try:
            self.log_file.write(json.dumps(record) + "\n")
            self.log_file.flush()
        except OSError as e:
            raise self.unwritable(e)

    def save(self, ck):
        self.follow()
        if self.replacing:  # first what it replaces: see finish_takeover
            note = {"replaces": identity(self.checkpoint), "config": self.pending_config}
            write_atomic(self.journal, json_text(note), self.dir_fd)
        checkpoint.save(self.checkpoint, ck, self.dir_fd)
        self.saved_step = ck.step
        if self.replacing:
            self.take_over()

    def take_over(self):
        """The new run's first save is done: from now on the folder is its own, metrics and config too."""
        self.replacing = False
        try:
            self.log_file.close()
            os.replace(self.entry(PENDING), self.entry(METRICS), src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
            log = os.open(self.entry(METRICS), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666, dir_fd=self.dir_fd)
            self.log_file = os.fdopen(log, "a", encoding="utf-8")
            if self.pending_config is not None:
                write_atomic(self.config, self.pending_config, self.dir_fd)
            os.remove(self.entry(JOURNAL), dir_fd=self.dir_fd)
        except OSError as e:
            raise self.unwritable(e)
        self.remove_old_outputs()

    def remove_old_outputs(self):
        """What the replaced run made beside its checkpoint (its page, its export) no longer matches the
        folder's run: removed, each only if its first bytes show that a run of ours wrote it."""
        for name in (REPORT, EXPORT):
            path = os.path.join(self.path, name)
            if looks_ours(path):
                try:
                    os.remove(path)
                except OSError:
                    pass

    def close(self):
        try:
            self.follow()
        except MicroGPTError:  # gone: nothing of the run's to remove, and the lock goes with its process
            pass
        if self.log_file:
            try:
                self.log_file.close()
            except OSError:  # a full disk fails the flush again: that was reported, and the lock must still go
                pass
            self.log_file = None
        if self.replacing:  # never saved: the run that was here stays as it was
            for path in (self.pending, self.journal):
                try:
                    os.remove(path)
                except OSError:
                    pass
        self.lock.release()
        if self.dir_fd is not None:
            os.close(self.dir_fd)
            self.dir_fd = None

    def last_good(self):
        if self.replacing:
            return "the run that was in %s is kept as it was" % self.path
        if self.saved_step is None:
            return "no checkpoint had been saved yet"
        return "the last good checkpoint, step %d, is in %s" % (self.saved_step, self.checkpoint)
