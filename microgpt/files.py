"""File plumbing shared by datasets, checkpoints and run directories: read a user's file safely, write
a file so that a crash can never leave half of it.

Not part of the learning path: nothing here is about GPTs.
"""

import hashlib
import os

from .errors import MicroGPTError


def read_bytes(path, kind="text file"):
    """The bytes of the file at `path`; a directory, a missing or an unreadable file is one clear line."""
    if os.path.isdir(path):
        raise MicroGPTError("%s is a directory, not a %s" % (path, kind))
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise MicroGPTError("cannot read %s: %s" % (path, e.strerror or e))


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def write_atomic(path, payload):
    """Replace `path` with `payload` (bytes or text) so that a crash leaves the old file or the new one.

    The bytes go to a fresh file in the same folder (a rename is atomic only within one file system),
    are fsynced, and only then renamed over `path`; the folder is fsynced last so the rename is durable.
    """
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    folder = os.path.dirname(os.path.abspath(path))
    # created like any file, so it gets the usual permissions (tempfile.mkstemp would make it owner-only)
    tmp = os.path.join(folder, ".%s.%d.%s.tmp" % (os.path.basename(path), os.getpid(), os.urandom(4).hex()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    fsync_dir(folder)


def fsync_dir(folder):
    """Make a rename in `folder` durable. Not possible (nor needed) on Windows."""
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
