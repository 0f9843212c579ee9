"""The dataset and the tokenizer.

A dataset is a UTF-8 text file with one document per line (the stripped, non-empty lines). The tokenizer
is the simplest one there is: every distinct character is a token, sorted, plus one extra token, BOS, that
marks where a document begins and ends. So "emma" trains as [BOS, e, m, m, a, BOS].

Left out: subword tokenizers (BPE). With 27 tokens the model and this file stay tiny.
"""

import hashlib
import http.client
import os
import urllib.error
import urllib.request

from .errors import MicroGPTError

NAMES_URL = "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"
NAMES_SHA256 = "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"
CACHE_ENV = "MICROGPT_CACHE_DIR"  # where the downloaded dataset is kept
URL_ENV = "MICROGPT_NAMES_URL"  # another address for the names file (a mirror; the tests' local server)


# --------------------------------------------------------------------------------------------------
# the names dataset, downloaded once into the user's cache

def cache_dir():
    """$MICROGPT_CACHE_DIR, else $XDG_CACHE_HOME/microgpt, else ~/.cache/microgpt."""
    if os.environ.get(CACHE_ENV):
        return os.environ[CACHE_ENV]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "microgpt")


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


def ensure_names(url=None, folder=None, timeout=30.0, log=None):
    """Path of names.txt in the cache, downloading and verifying it first if needed.

    The address is `url`, else $MICROGPT_NAMES_URL, else NAMES_URL; whatever it is, the bytes must have
    the SHA-256 of the original file.
    """
    url = url or os.environ.get(URL_ENV) or NAMES_URL
    folder = folder or cache_dir()
    path = os.path.join(folder, "names.txt")
    if os.path.isfile(path) and sha256_of(path) == NAMES_SHA256:
        return path
    hint = "pass --data FILE to train on a local text file"
    if log:
        log("downloading %s -> %s" % (url, path))
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read()
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
        # an HTTPError's own text has the status code ("HTTP Error 404: Not Found"); its reason has not
        reason = e if isinstance(e, urllib.error.HTTPError) else getattr(e, "reason", None) or e
        raise MicroGPTError("could not download the names dataset from %s (%s); %s" % (url, reason, hint))
    digest = hashlib.sha256(data).hexdigest()
    if digest != NAMES_SHA256:
        raise MicroGPTError("the download from %s has SHA-256 %s, expected %s; %s"
                            % (url, digest, NAMES_SHA256, hint))
    try:
        os.makedirs(folder, exist_ok=True)
        write_atomic(path, data)
    except OSError as e:
        raise MicroGPTError("cannot write the dataset to %s (%s); set %s to another folder or %s"
                            % (folder, e.strerror or e, CACHE_ENV, hint))
    return path


# --------------------------------------------------------------------------------------------------
# documents

def read_bytes(path, kind="text file"):
    """The bytes of the file at `path`; a directory, a missing or an unreadable file is one clear line."""
    if os.path.isdir(path):
        raise MicroGPTError("%s is a directory, not a %s" % (path, kind))
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise MicroGPTError("cannot read %s: %s" % (path, e.strerror or e))


def load_docs(path):
    """The stripped, non-empty lines of a UTF-8 text file, in file order."""
    raw = read_bytes(path)
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark is not part of the first document
        raw = raw[3:]
    docs = []
    for lineno, line in enumerate(raw.split(b"\n"), 1):
        try:
            text = line.decode("utf-8").strip()
        except UnicodeDecodeError as e:
            raise MicroGPTError("%s line %d is not valid UTF-8 (byte %d); save the file as UTF-8"
                                % (path, lineno, e.start + 1))
        if text:
            docs.append(text)
    if not docs:
        raise MicroGPTError("%s has no documents: it is empty or blank" % path)
    return docs


def split_docs(docs, val_fraction):
    """(train, val): the held-out documents come from the end, so the training stream keeps its order."""
    n_val = int(len(docs) * val_fraction)
    if n_val == 0 or n_val == len(docs):
        return list(docs), []
    return docs[:-n_val], docs[-n_val:]


def batch_docs(docs, step, batch_size):
    """The documents of optimizer step `step` (0-based): the next batch_size of them in order, wrapping
    around, so that with batch_size 1 step s trains on docs[s % len(docs)] as the reference does."""
    return [docs[(step * batch_size + b) % len(docs)] for b in range(batch_size)]


# --------------------------------------------------------------------------------------------------
# tokenizer

class Tokenizer:
    """Characters <-> token ids. ids 0..len(chars)-1 are the sorted characters; BOS is len(chars)."""

    def __init__(self, chars):
        self.chars = list(chars)
        self.index = {ch: i for i, ch in enumerate(self.chars)}
        if len(self.index) != len(self.chars):
            raise MicroGPTError("the vocabulary has repeated characters")
        self.bos = len(self.chars)
        self.vocab_size = len(self.chars) + 1

    @classmethod
    def from_docs(cls, docs):
        return cls(sorted(set("".join(docs))))

    def encode(self, text):
        ids = []
        for ch in text:
            if ch not in self.index:
                raise MicroGPTError("character %r (U+%04X) is not in the vocabulary" % (ch, ord(ch)))
            ids.append(self.index[ch])
        return ids

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids if i != self.bos)

    def frame(self, doc):
        """[BOS] + doc + [BOS]: what a document looks like to the model."""
        return [self.bos] + self.encode(doc) + [self.bos]
