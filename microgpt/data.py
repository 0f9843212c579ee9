"""The tokenizer and the dataset: text in, lists of token ids out.

The tokenizer is the simplest there is: every distinct character of the dataset is a token, numbered in
sorted order, plus one extra token, BOS, that marks where a document begins and ends. On the names
dataset the characters are a..z (ids 0..25) and BOS is 26, so

    "emma"  ->  [BOS, e, m, m, a, BOS]  =  [26, 4, 12, 12, 0, 26]

and the model learns from it to predict e after BOS, m after BOS e, ..., and BOS (the end) after emma.

A dataset is a UTF-8 text file (a line ends at LF, CRLF or CR), read by the tool (tool/files.py, which
bounds its size), in one of two formats:

- lines (Dataset): each stripped, non-empty line is a document. A run shuffles the documents with its
  random stream and holds out the last share of them; a step trains on the next batch_size documents,
  each framed by BOS as above. A document longer than the context is trained on its first block_size
  predictions only (left_out counts the rest).
- text (TextDataset): the file is one stream of tokens, line breaks included (a play, a novel, code).
  The last share of the stream is held out; a step trains on batch_size windows of block_size + 1
  consecutive tokens, each starting at a place drawn from the run's random stream, and the held-out loss
  is measured over consecutive windows that together predict every held-out token but the first.

choose_format is the rule for `auto`. The tokenizer is passed in (a function of the training text, or one
already built, e.g. a checkpoint's); without one it is the characters of the whole file. The other
tokenizer, byte-level BPE (bpe.py), is learnt from the training part alone and encodes any UTF-8 text.
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

def read_text(raw, path):
    """The text of UTF-8 bytes, every line break as LF (`path` names the file in errors).

    A line ends at LF, CRLF or a lone CR (the old Mac convention); a byte order mark is dropped.
    """
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark is not part of the text
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
                            "file" % (path, text.count("\n", 0, nul) + 1))
    return text


def lines_of(text):
    """The stripped, non-empty lines of `text`: the documents of the lines format."""
    return [line for line in (part.strip() for part in text.split("\n")) if line]


def parse_docs(raw, path):
    """The stripped, non-empty lines of UTF-8 bytes, in file order (`path` names the file in errors)."""
    docs = lines_of(read_text(raw, path))
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


# --------------------------------------------------------------------------------------------------
# the two formats, and the rule that chooses between them

FORMATS = ("auto", "lines", "text")


def choose_format(docs, block_size):
    """("lines" or "text", why), for format auto: text when more than half of the lines are longer than
    block_size - 1 characters, the most a document can hold for all of it to fit in the context between
    its two BOS tokens (n characters are n + 1 predictions); lines otherwise."""
    fits = block_size - 1
    long = sum(1 for doc in docs if len(doc) > fits)
    why = "%d of %d lines %s longer than the %d characters a context of %d holds between BOS tokens" % (
        long, len(docs), "is" if long == 1 else "are", fits, block_size)
    return ("text" if 2 * long > len(docs) else "lines"), why


def make_tokenizer(tokenizer, training, everything):
    """The run's tokenizer: `tokenizer` itself when it is one (a checkpoint's), what the function
    `tokenizer` learns from the training part's texts, or by default (None) a token for each character
    of all of the data, held-out part included, so that every held-out character has one."""
    if tokenizer is None:
        return Tokenizer.from_docs(everything)
    if hasattr(tokenizer, "encode"):
        return tokenizer
    return tokenizer(training)


class Dataset:
    """The lines format: a text file's documents shuffled by the run's random stream, its tokenizer, and
    its split.

    The same file and seed always give the same documents in the same order, the same vocabulary and the
    same held-out tail. `rng` is advanced by the shuffle: training goes on to draw its weights from it.
    """

    format = "lines"

    def __init__(self, raw, path, rng, val_fraction, need_held_out=True, tokenizer=None, docs=None,
                 block_size=None):
        """`raw`: the file's bytes; `path`: where they were read from, for errors and the checkpoint;
        `docs`: its documents, if already parsed from `raw`; `tokenizer`: see make_tokenizer;
        `block_size`: the model's context, if known (see frame)."""
        self.path, self.block_size, self.cut = path, block_size, {}
        self.sha256 = hashlib.sha256(raw).hexdigest()
        self.docs = list(docs) if docs is not None else parse_docs(raw, path)
        rng.shuffle(self.docs)
        self.train_docs, self.val_docs = split_docs(self.docs, val_fraction, path, need_held_out)
        self.tokenizer = make_tokenizer(tokenizer, self.train_docs, self.docs)

    def batch(self, step, batch_size, rng=None):
        """The framed documents of step `step`: the next batch_size of them (batch_docs); no random draw."""
        return [self.frame(doc) for doc in batch_docs(self.train_docs, step, batch_size)]

    def held_out(self, limit=0):
        """The first `limit` held-out documents (0: all), framed: what the held-out loss is the mean over."""
        return [self.frame(doc) for doc in (self.val_docs[:limit] if limit else self.val_docs)]

    def frame(self, doc):
        """tokenizer.frame(doc), cut to the block_size + 1 tokens the model reads of it (model.loss), so
        that a step costs what it reads, whatever the document's length: the character tokenizer makes
        one token per character and frames only the characters read; another (BPE) may merge across any
        cut, so a long document is framed whole once and its cut kept."""
        B = self.block_size
        if B is None or len(doc) <= 2 * (B + 1):  # short: framing it all costs no more than reading it
            return self.tokenizer.frame(doc)
        if type(self.tokenizer) is Tokenizer:
            return self.tokenizer.frame(doc[:B])[:B + 1]
        if doc not in self.cut:
            self.cut[doc] = self.tokenizer.frame(doc)[:B + 1]
        return self.cut[doc]

    @property
    def num_held_out(self):
        return len(self.val_docs)

    def left_out(self, docs, block_size):
        """(documents longer than the context, their tokens to predict, how many of those fall past it):
        a framed document of n tokens has n - 1 to predict, and the model sees the first block_size."""
        cut = total = past = 0
        for doc in docs:
            if len(doc.encode("utf-8")) < block_size:  # no tokenizer makes more tokens than bytes: it fits
                continue
            n = len(self.tokenizer.encode(doc)) + 1
            if n > block_size:
                cut, total, past = cut + 1, total + n, past + n - block_size
        return cut, total, past

    def info(self):
        """What a checkpoint records of the data: enough to find it again and to know it is the same."""
        return {"path": os.path.abspath(self.path), "sha256": self.sha256, "num_docs": len(self.docs)}


class TextDataset:
    """The text format: a file as one stream of tokens, its last share held out.

    The split is by characters, before tokenizing (a tokenizer learnt from the text learns from the
    training part only); each part is then one token list. Nothing is shuffled: the training windows'
    places are drawn from the run's random stream as it trains, one randrange per window.
    """

    format = "text"

    def __init__(self, raw, path, val_fraction, block_size, need_held_out=True, tokenizer=None, text=None):
        """`text`: the file's text, if already read from `raw`; the rest as Dataset's."""
        self.path, self.block_size = path, block_size
        self.sha256 = hashlib.sha256(raw).hexdigest()
        self.text = text if text is not None else read_text(raw, path)
        if not self.text.strip():
            raise MicroGPTError("%s has no text: it is empty or blank" % path)
        n_val = int(len(self.text) * val_fraction)
        self.train_text, self.val_text = self.text[:len(self.text) - n_val], self.text[len(self.text) - n_val:]
        self.tokenizer = make_tokenizer(tokenizer, [self.train_text], [self.text])
        self.train_tokens = self.tokenizer.encode(self.train_text)
        self.val_tokens = self.tokenizer.encode(self.val_text)
        if len(self.train_tokens) <= block_size:
            raise MicroGPTError("%s has %d tokens of training text, too few for one window of block_size + 1 = %d; "
                                "pass a smaller --block-size or a longer text" % (path, len(self.train_tokens),
                                                                                  block_size + 1))
        if len(self.val_tokens) < 2 and val_fraction > 0 and need_held_out:
            raise MicroGPTError("%s has %d characters: --val-fraction %s holds out %d token%s, too few to score "
                                "one (that takes 2); pass --val-fraction 0 to train without a held-out loss, or a "
                                "larger --val-fraction" % (path, len(self.text), val_fraction, len(self.val_tokens),
                                                           "s" * (len(self.val_tokens) != 1)))

    def batch(self, step, batch_size, rng):
        """batch_size windows of block_size + 1 tokens from places drawn from `rng`, whatever the step:
        the state of `rng` (which a checkpoint keeps) decides them."""
        B, last = self.block_size, len(self.train_tokens) - self.block_size - 1  # the last place a window fits
        return [self.train_tokens[i:i + B + 1] for i in [rng.randrange(last + 1) for _ in range(batch_size)]]

    def held_out(self, limit=0):
        """The first `limit` held-out windows (0: all): windows of block_size + 1 tokens starting every
        block_size tokens, so that each held-out token but the first is predicted once, after the ones
        before it in its window (0 to block_size - 1 of them, as in training); the last may be shorter."""
        starts = range(0, max(0, len(self.val_tokens) - 1), self.block_size)
        return [self.val_tokens[s:s + self.block_size + 1] for s in (starts[:limit] if limit else starts)]

    @property
    def num_held_out(self):
        return len(range(0, max(0, len(self.val_tokens) - 1), self.block_size))

    def characters(self, windows):
        """The characters of the text the windows predict (all but their first tokens): what bits per
        character divides by, so that tokenizers of any size compare. The windows follow one another, so
        their predicted tokens are one run of the text, decoded whole: a BPE token can end inside a
        character, and decoding each window apart would count its halves as two U+FFFD."""
        return len(self.tokenizer.decode([t for w in windows for t in w[1:]]))

    def info(self):
        return {"path": os.path.abspath(self.path), "sha256": self.sha256, "num_chars": len(self.text)}


def make_dataset(raw, path, rng, format, val_fraction, block_size, need_held_out=True, tokenizer=None):
    """The dataset of a file's bytes in `format` (lines, text, or auto: choose_format), with `why` set to
    the reason for that format. `rng` is the run's random stream (the lines format shuffles with it)."""
    text = read_text(raw, path)
    docs = lines_of(text)
    if not docs:
        raise MicroGPTError("%s has no documents: it is empty or blank" % path)
    why = "asked for"
    if format == "auto":
        format, why = choose_format(docs, block_size)
        why = "auto: " + why
    if format == "text":
        dataset = TextDataset(raw, path, val_fraction, block_size, need_held_out, tokenizer, text)
    else:
        dataset = Dataset(raw, path, rng, val_fraction, need_held_out, tokenizer, docs, block_size)
    dataset.why = why
    return dataset
