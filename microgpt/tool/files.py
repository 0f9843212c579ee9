"""File plumbing shared by datasets, checkpoints and run directories: read a user's file safely, write
a file so that a crash can never leave half of it.

Not part of the learning path: nothing here is about GPTs.
"""

import errno
import hashlib
import json
import os
import re
import stat
import time

from ..data import make_dataset, parse_docs
from ..errors import MicroGPTError

# The most a data file may hold: it is read whole into memory. 64 MiB is ~290 times the names dataset,
# more text than a pure-Python model reads in days of training, and its documents cost Python far more
# than their bytes: a file of two-letter lines takes ~30 bytes of memory per byte of file and ~20 s to
# shuffle, so a much bigger file would exhaust memory or patience before the first step. (A checkpoint's
# limit is in checkpoint.py.)
DATA_LIMIT = 64 << 20

SPECIAL = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
           (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def read_bytes(path, kind="text file", limit=DATA_LIMIT):
    """The bytes of the file at `path`, at most `limit` of them.

    Anything but a regular file is refused before it is opened for reading: a FIFO with no writer would
    block forever, /dev/zero never ends. The file is opened non-blocking (a FIFO swapped in after the
    check cannot hang either) and checked again; at most limit + 1 bytes are read, so a file that grows
    while being read is refused too rather than read whole.
    """
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise MicroGPTError("%s is a directory, not a %s" % (path, kind))
        refuse_special(path, mode, kind)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as e:
        raise MicroGPTError("cannot read %s: %s" % (path, e.strerror or e))
    except ValueError:  # a NUL character in the name: no file can have it
        raise MicroGPTError("cannot read %r: a file name cannot hold a NUL character" % path)
    try:
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            refuse_special(path, info.st_mode, kind)
            if info.st_size > limit:
                raise too_big(path, kind, info.st_size, limit)
            raw = f.read(limit + 1)
    except OSError as e:
        raise MicroGPTError("cannot read %s: %s" % (path, e.strerror or e))
    if len(raw) > limit:
        raise too_big(path, kind, None, limit)
    return raw


def reach(path, kind):
    """Nothing if `path` is there or simply is not (ENOENT: the caller says what was expected there); else
    the one line saying why it cannot even be looked at: a name past the system's limit, a folder on the
    way that may not be searched (chmod 000), where "no checkpoint at DIR" would mislead."""
    try:
        os.lstat(path)
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise MicroGPTError("cannot read the %s %s: %s" % (kind, path, e.strerror or e))
    except ValueError:  # a NUL in the name: the flags refuse it, and no file has it
        pass


def not_written(e):
    """Why a file was not written, from its OSError, with what to do about a full disk (or quota)."""
    why = e.strerror or str(e)
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        why += "; free some space on that disk, or write somewhere else"
    return why


def load_docs(path):
    """The documents of the text file at `path`, in file order (data.parse_docs)."""
    return parse_docs(read_bytes(path), path)


def read_dataset(path, rng, val_fraction, need_held_out=True, format="lines", block_size=None, tokenizer=None):
    """The dataset of the text file at `path` in `format` (data.make_dataset; block_size is needed for text and
    auto), read as read_bytes reads any file."""
    return make_dataset(read_bytes(path), path, rng, format, val_fraction, block_size, need_held_out, tokenizer)


def refuse_special(path, mode, kind):
    for test, what in SPECIAL:
        if test(mode):
            raise MicroGPTError("%s is %s, not a %s; pass a regular file" % (path, what, kind))
    if not stat.S_ISREG(mode):
        raise MicroGPTError("%s is not a regular file, so it cannot be a %s; pass a regular file" % (path, kind))


def too_big(path, kind, size, limit):
    size = "more than %s" % human_size(limit) if size is None else human_size(size)
    return MicroGPTError("%s is %s, more than the %s a %s may be; pass a smaller file"
                         % (path, size, human_size(limit), kind))


def human_size(n):
    """1.5 KiB, 64 MiB, 3071 bytes: binary units, with one decimal only where it is exact or small beside
    the number (a limit of 3071 bytes must not read as 3.0 KiB)."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        size = 1 << shift
        if n >= size and (n * 10 % size == 0 or n >= 10 * size):
            value = n / float(size)
            return ("%d %s" if value == int(value) else "%.1f %s") % (value, unit)
    return "%d bytes" % n


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def json_text(doc, **options):
    """`doc` as JSON text, its non-ASCII characters as themselves (a vocabulary stays readable), unless
    it holds a lone surrogate, which has no UTF-8 form: a file name that was not valid UTF-8 arrives as
    one. Then every non-ASCII character is written as a \\u escape, which reads back the same."""
    text = json.dumps(doc, ensure_ascii=False, **options)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(doc, ensure_ascii=True, **options)
    return text


def write_atomic(path, payload, dir_fd=None):
    """Replace `path` with `payload` (bytes or text) so that a crash leaves the old file or the new one.

    The bytes go to a fresh file in the same folder (a rename is atomic only within one file system),
    are fsynced, and only then renamed over `path`; the folder is fsynced last so the rename is durable.
    With `dir_fd`, a folder open_folder opened, the file is path's last part in that folder, wherever it
    has been moved since (a run's folder renamed while it trains: runs.RunDir); `path` is for messages.
    """
    if isinstance(payload, str):  # a lone surrogate (a name that is not UTF-8, in a page) as an escape
        payload = payload.encode("utf-8", "backslashreplace")
    folder = os.path.dirname(os.path.abspath(path))
    # created like any file, so it gets the usual permissions (tempfile.mkstemp would make it owner-only)
    # the name cut to 200 characters: a name near the system's limit (255) is the user's to have, its temp
    # file's (21 more characters) is ours to keep within it
    name = os.path.basename(path)[:200]
    remove_strays(folder, name, dir_fd)
    tmp = ".%s.%d.%s.tmp" % (name, os.getpid(), os.urandom(4).hex())
    at = {"dir_fd": dir_fd} if dir_fd is not None else {}
    if dir_fd is None:
        tmp = os.path.join(folder, tmp)
    try:  # opened inside: a signal raising (console.StopRequest) as the open returns must not leave it behind
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666, **at)
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        if dir_fd is None:
            os.replace(tmp, path)
        else:
            os.replace(tmp, os.path.basename(path), src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.remove(tmp, **at)
        except OSError:
            pass
        raise
    fsync_dir(folder, dir_fd)


def open_folder(path):
    """The folder `path`, opened, for write_atomic's dir_fd: what is written through it lands in that folder
    wherever it is moved. None where a system cannot write through an open folder (Windows, which moves no
    folder with a file open in it anyway), or if it cannot be opened."""
    # (os.replace and os.remove take a dir_fd where os.rename and os.unlink do: the same calls underneath)
    if not ({os.open, os.rename, os.unlink, os.stat} <= os.supports_dir_fd and os.listdir in os.supports_fd):
        return None
    try:
        return os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return None


# A temp file older than this is no write under way, even by a process of another machine that shares the
# folder (whose pid means nothing here): a write of ours takes seconds at most.
STRAY_AGE = 60.0


def remove_strays(folder, name, dir_fd=None):
    """Remove the temp files that writes of `name` in `folder` (or the open folder dir_fd) killed midway
    (kill -9, a power cut) left: named exactly as write_atomic names them, .<name>.<pid>.<8 hex digits>.tmp,
    and each only once the process that wrote it is gone and it has not changed for STRAY_AGE seconds. No
    other file, ever."""
    ours = re.compile(r"\.%s\.(\d+)\.[0-9a-f]{8}\.tmp\Z" % re.escape(name))
    try:
        names = os.listdir(folder if dir_fd is None else dir_fd)
    except OSError:
        return
    at = {"dir_fd": dir_fd} if dir_fd is not None else {}
    for entry in names:
        m = ours.match(entry)
        if not m or alive(int(m.group(1))):
            continue
        stray = os.path.join(folder, entry) if dir_fd is None else entry
        try:
            st = os.lstat(stray, **at)
            if stat.S_ISREG(st.st_mode) and time.time() - st.st_mtime > STRAY_AGE:
                os.remove(stray, **at)
        except OSError:
            pass


def alive(pid):
    """Whether process `pid` may be running. Where that cannot be told (Windows, where os.kill would end
    it), it may."""
    if os.name == "nt" or pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process is there
    except ProcessLookupError:
        return False
    except OSError:  # there, but another user's
        return True
    return True


def fsync_dir(folder, dir_fd=None):
    """Make a rename in `folder` (or the open folder dir_fd) durable. Not possible (nor needed) on Windows."""
    if dir_fd is not None:
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
