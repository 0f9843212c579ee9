"""The run's tokenizer as the tool makes it: the characters of the data (char), or a byte-level BPE
(bpe.py) learnt from the training part, its progress on stderr while it learns.

A resumed run, sample, report and export never learn it again: they take the merges from the checkpoint
(checkpoint.tokenizer_of).
"""

import time

from ..bpe import BPETokenizer
from ..errors import MicroGPTError
from . import cost
from .console import Progress
from .files import human_size
from .messages import t

# Learning BPE keeps each byte of the training text as several Python objects (its token, its place in the
# linked list both ways, its places in the pair lists): the peak (ru_maxrss) was 141 bytes of memory per byte
# of Tiny Shakespeare for 512 tokens, 177 for 2,305 (the heap of counts grows with the merges); rounded up
# here, as cost.py's figures are.
BYTES_PER_TEXT_BYTE = 200


def learner(cfg, err, lang="en"):
    """What data.make_dataset builds the tokenizer of `cfg` with: None (the char tokenizer, the data's
    characters), or a function of the training part's texts that learns cfg.vocab_size BPE tokens."""
    if cfg.tokenizer == "char":
        return None
    return lambda texts: learn_bpe(texts, cfg.vocab_size, err, enabled=not cfg.quiet, lang=lang)


def learn_bpe(texts, vocab_size, err, enabled=True, lang="en"):
    """BPETokenizer.train with its progress on `err` (in `lang`): redrawn in place on a terminal, else a line
    every few seconds."""
    size = sum(len(text.encode("utf-8")) for text in texts)
    need, have = size * BYTES_PER_TEXT_BYTE, cost.physical_memory()
    if need > have:
        raise MicroGPTError("learning BPE from %s of text would need about %s of memory, but this machine has %s; "
                            "use a shorter text or --tokenizer char" % (human_size(size), human_size(need),
                                                                        human_size(have)))
    progress = Progress(err, 0, vocab_size - 257, enabled, lang)
    start = last = time.time()

    def show(done, total):
        nonlocal last
        now = time.time()
        if progress.enabled and (progress.live or now - last >= progress.PLAIN_EVERY):
            progress.show(t("BPE: %d of %d merges, %.0f s", lang) % (done, total, now - start))
            last = now

    tokenizer = BPETokenizer.train(texts, vocab_size, show)
    progress.close()
    return tokenizer


def describe(tokenizer, asked=None):
    """One line for the run's header: which tokenizer, and for BPE how many tokens it learnt."""
    if not isinstance(tokenizer, BPETokenizer):
        return "char: a token for each of the data's %d characters, and BOS" % (tokenizer.vocab_size - 1)
    short = ("; the text has no pair left that occurs twice, so not the %d asked for" % asked
             if asked and asked != tokenizer.vocab_size else "")
    return "byte-level BPE: 256 bytes, %d merges learnt from the training part, and BOS%s" % (
        len(tokenizer.merges), short)
