"""The tokenizer and the dataset: text in, lists of token ids out.

The tokenizer is the simplest there is: every distinct character of the dataset is a token, numbered in
sorted order, plus one extra token, BOS, that marks where a document begins and ends. On the names
dataset the characters are a..z (ids 0..25) and BOS is 26, so

    "emma"  ->  [BOS, e, m, m, a, BOS]  =  [26, 4, 12, 12, 0, 26]

and the model learns from it to predict e after BOS, m after BOS e, ..., and BOS (the end) after emma.

A dataset is a UTF-8 text file with one document per line (the stripped, non-empty lines; a line ends
at LF, CRLF or CR), read by the tool (tool/files.py, which bounds its size). A run shuffles
the documents with its random stream, builds the tokenizer from them and holds out the last share of them
for evaluation; the names dataset itself is downloaded once (tool/download.py).

Left out: subword tokenizers (BPE). With 27 tokens the model and this file stay tiny.
"""

import hashlib
import math
import os

from .errors import MicroGPTError

# --------------------------------------------------------------------------------------------------
# the tokenizer


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
        try:
            return [self.index[ch] for ch in text]
        except KeyError:
            missing = [ch for ch in dict.fromkeys(text) if ch not in self.index]  # each once, in order
            many = len(missing) != 1
            raise MicroGPTError("%d character%s of the text %s not in the vocabulary: %s"
                                % (len(missing), "s" * many, "are" if many else "is", listing(missing))) from None

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids if i != self.bos)

    def frame(self, doc):
        """[BOS] + doc + [BOS]: what a document looks like to the model."""
        return [self.bos] + self.encode(doc) + [self.bos]


def listing(chars, most=20):
    """Characters for a message, each with its code point: the first `most` of them and how many more, so
    that a line naming the characters of a large text stays a line."""
    named = ", ".join("%r (U+%04X)" % (ch, ord(ch)) for ch in chars[:most])
    return named if len(chars) <= most else "%s and %d more" % (named, len(chars) - most)


# --------------------------------------------------------------------------------------------------
# documents, the held-out split and the training stream

def parse_docs(raw, path):
    """The stripped, non-empty lines of UTF-8 bytes, in file order (`path` names the file in errors).

    A line ends at LF, CRLF or a lone CR (the old Mac convention), so no document holds a line break.
    """
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark is not part of the first document
        raw = raw[3:]
    # whole-file operations run in C: a line-by-line loop in Python took ~20 s on 30 MB of short lines
    raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MicroGPTError("%s line %d is not valid UTF-8 (byte %d); save the file as UTF-8"
                            % ((path,) + line_and_column(raw, e.start)))
    nul = text.find("\0")
    if nul >= 0:  # valid UTF-8, but no text has NUL characters: an image, an archive, a disk image
        raise MicroGPTError("%s line %d holds a NUL byte: it is a binary file, not text; pass a UTF-8 text "
                            "file with one document per line" % (path, text.count("\n", 0, nul) + 1))
    docs = [line for line in (part.strip() for part in text.split("\n")) if line]
    if not docs:
        raise MicroGPTError("%s has no documents: it is empty or blank" % path)
    return docs


def line_and_column(raw, offset):
    """(line, byte within that line), both counted from 1, of the byte at `offset`."""
    return raw.count(b"\n", 0, offset) + 1, offset - (raw.rfind(b"\n", 0, offset) + 1) + 1


def documents_for_one(val_fraction):
    """How many documents it takes for int(n * val_fraction) to hold out one, as text."""
    if val_fraction < 1e-12:  # 1/x would be astronomically large, or overflow to inf
        return "more documents than any file holds"
    enough = int(math.ceil(1 / val_fraction))
    while int(enough * val_fraction) < 1:  # ceil(1/x) can fall short of it by a rounding
        enough += 1
    return "%d or more" % enough


def split_docs(docs, val_fraction, path="the data", need_held_out=True):
    """(train, val): the held-out documents come from the end, so the training stream keeps its order.

    A share that rounds down to no documents at all is refused (`need_held_out`) rather than leaving
    the run without a held-out loss the user asked for."""
    n_val = int(len(docs) * val_fraction)
    if n_val == 0 and val_fraction > 0 and need_held_out:
        raise MicroGPTError("%s has %d document%s: --val-fraction %s holds out none of them (that takes %s); "
                            "pass --val-fraction 0 to train without a held-out loss, or a larger "
                            "--val-fraction" % (path, len(docs), "s" * (len(docs) != 1), val_fraction,
                                                documents_for_one(val_fraction)))
    if n_val == 0 or n_val == len(docs):
        return list(docs), []
    return docs[:-n_val], docs[-n_val:]


def batch_docs(docs, step, batch_size):
    """The documents of optimizer step `step` (0-based): the next batch_size of them in order, wrapping
    around, so that with batch_size 1 step s trains on docs[s % len(docs)] as the reference does."""
    return [docs[(step * batch_size + b) % len(docs)] for b in range(batch_size)]


class Dataset:
    """A text file's documents shuffled by the run's random stream, its tokenizer, and its split.

    This is the one way every command sees a dataset (train, resume, sample, bench, report): the same
    file and seed always give the same documents in the same order, the same vocabulary and the same
    held-out tail. `rng` is advanced by the shuffle: training goes on to draw its weights from it.
    """

    def __init__(self, raw, path, rng, val_fraction, need_held_out=True):
        """`raw`: the file's bytes; `path`: where they were read from, for errors and the checkpoint."""
        self.path = path
        self.sha256 = hashlib.sha256(raw).hexdigest()
        self.docs = parse_docs(raw, path)
        rng.shuffle(self.docs)
        self.tokenizer = Tokenizer.from_docs(self.docs)
        self.train_docs, self.val_docs = split_docs(self.docs, val_fraction, path, need_held_out)

    def info(self):
        """What a checkpoint records of the data: enough to find it again and to know it is the same."""
        return {"path": os.path.abspath(self.path), "sha256": self.sha256, "num_docs": len(self.docs)}

