"""The `sample` command: load a checkpoint, write, and tell which samples are new and which were
already in the training data (like makemore's "in train" / "new"). It knows the training documents from
the data file's path and SHA-256 stored in the checkpoint.

A model of a text (format text) writes passages instead: --length tokens each, past its context too
(sample.continue_text), each token printed as soon as it is drawn.
"""

import math
import os
import random

from .. import data, sample
from ..errors import MicroGPTError
from ..speed.engine import cached_decoder
from . import checkpoint, cost
from .console import Lines, visible
from .files import reach


def checkpoint_path(run=None, checkpoint_file=None):
    """The checkpoint named by --checkpoint FILE, or the one in --run DIR."""
    if checkpoint_file:
        return checkpoint_file
    reach(run, "run directory")
    if os.path.exists(run) and not os.path.isdir(run):
        raise MicroGPTError("%s is a file, not a run directory; pass a checkpoint file with --checkpoint" % run)
    return os.path.join(run, "checkpoint.json")


TEXT_LENGTH = 200  # tokens of a passage of a text model: the default of --length


def closing_length(block_size):
    """Tokens of each passage a text's training run ends with: four contexts' worth, past the context and
    cheap beside the training (past the context each token reads the whole window again: block_size
    positions of work, so a passage costs about 3 block_size ** 2, and 20 of them at block_size 16 cost a
    fifth of the default run's 1000 steps)."""
    return 4 * block_size


def sample_checkpoint(path, num_samples=None, temperature=0.5, top_k=0, prompt="", seed=None, max_len=None,
                      out=None, engine="fast", device="auto", dtype="auto", length=None):
    """Print samples from the checkpoint at `path` (num_samples None: 20 names, or 1 passage of a text).
    seed None continues the checkpoint's random stream, so a finished run's checkpoint writes the very
    samples its training run printed. engine "torch" computes the logits with PyTorch on `device` in
    `dtype` (whichever engine trained the checkpoint). `length`: tokens per passage, for a text's model.

    Each sample is printed as soon as it is drawn; when the reader of the output goes away (`| head -3`),
    sampling stops there. Returns the samples printed."""
    say = Lines(out)
    ck = checkpoint.load(path)
    text = ck.config.format == "text"
    num_samples = (1 if text else 20) if num_samples is None else num_samples
    if text:
        length = passage_length(length, max_len)
    elif length is not None:
        raise MicroGPTError("--length is for a model of a text (format text), which writes past its context; this "
                            "one's samples are lines, each ending at BOS or its context: use --max-len")
    passes = max(1, length - ck.model.block_size + 1) if text else 1  # a slid window is read whole again
    cost.check_sampling(ck.model, num_samples, passes=passes)  # says so if the samples will take hours
    model, _, rng = checkpoint.restore(ck)
    tokenizer = checkpoint.tokenizer_of(ck)
    # a BPE tokenizer has every byte: any prompt can be encoded, its length counted in tokens
    missing = [] if ck.merges else [ch for ch in dict.fromkeys(prompt) if ch not in tokenizer.index]
    if missing:  # a few of each, never the whole of a vocabulary of thousands, so the error stays one line
        raise MicroGPTError("the prompt has %d character%s not in the model's vocabulary: %s; %s"
                            % (len(missing), "s" * (len(missing) != 1), data.listing(missing),
                               vocabulary(tokenizer.chars)))
    if not text:
        max_len = lines_max_len(ck, tokenizer, prompt, max_len)
    if top_k < 0 or temperature < 0 or not math.isfinite(temperature) or num_samples < 0:
        raise MicroGPTError("top_k, temperature and num_samples must be 0 or more")
    if seed is not None:
        rng = random.Random(seed)
    decoder = cached_decoder
    if engine == "torch":
        from ..speed import torch_engine
        decoder = torch_engine.Sampler.load(model, device, dtype)

    say("checkpoint: %s (step %d, %d params, vocab size %d)" % (path, ck.step, model.num_params,
                                                               tokenizer.vocab_size))
    say("sampling: num_samples=%d temperature=%s top_k=%d prompt=%r seed=%s %s"
        % (num_samples, temperature, top_k, prompt, "checkpoint" if seed is None else seed,
           "length=%d" % length if text else "max_len=%d" % max_len))
    if engine == "torch":
        say(decoder.describe())
    if text:
        texts = print_texts((sample.continue_text(model, tokenizer, rng, length, temperature, prompt, top_k, decoder)
                             for _ in range(num_samples)), tokenizer, prompt, say)
        return failed(say) or texts
    try:
        seen, why_unknown = set(checkpoint.training_data(ck).train_docs), None
    except MicroGPTError as e:
        seen, why_unknown = None, str(e)
    drawn = (sample.generate(model, tokenizer, rng, temperature, prompt, max_len, top_k, decoder)
             for _ in range(num_samples))
    names = print_samples(drawn, seen, say)
    if seen is None:
        say("new or seen: unknown, %s" % why_unknown)
    return failed(say) or names


def failed(say):
    if say.failed is not None:  # not a reader that left (`| head`) but output lost (a full disk): an error
        raise MicroGPTError("cannot write the samples: %s" % (getattr(say.failed, "strerror", None) or say.failed))


def passage_length(length, max_len):
    if max_len is not None:
        raise MicroGPTError("--max-len is for a model of lines; a model of a text writes --length tokens (default "
                            "%d), past its context too" % TEXT_LENGTH)
    length = TEXT_LENGTH if length is None else length
    if length < 1:
        raise MicroGPTError("length must be at least 1, got %d" % length)
    return length


def lines_max_len(ck, tokenizer, prompt, max_len):
    """The most tokens of a sample of lines, prompt included, checked: the prompt and BOS fit the context."""
    block_size = ck.model.block_size
    unit, n_prompt = ("tokens", len(tokenizer.encode(prompt))) if ck.merges else ("characters", len(prompt))
    if n_prompt >= block_size:
        raise MicroGPTError("the prompt has %d %s but the model's context is %d tokens: BOS and at most "
                            "%d %s" % (n_prompt, unit, block_size, block_size - 1, unit))
    max_len = block_size if max_len is None else max_len
    if not n_prompt < max_len <= block_size:
        raise MicroGPTError("max_len must be more than the prompt's %d %s and at most the context, %d; "
                            "got %d" % (n_prompt, unit, block_size, max_len))
    return max_len


def vocabulary(chars, most=40):
    """The vocabulary in a message: all of a small one, the start of a large one."""
    if len(chars) <= most:
        return "its %d characters are %s" % (len(chars), "".join(chars))
    return "its %d characters begin %s..." % (len(chars), "".join(chars[:most]))


def shown_text(text):
    """A passage as the terminal should show it: console.visible, but its line breaks stay line breaks."""
    return "\n".join(visible(line) for line in text.split("\n"))


class Echo:
    """Print a passage token by token. A token may end inside a character (a BPE token is bytes): its
    text then ends in U+FFFD, and is held back until the next tokens complete it (a character is at
    most 4 bytes, so at most 4 tokens wait)."""

    def __init__(self, tokenizer, say):
        self.tokenizer, self.say, self.pending = tokenizer, say, []

    def __call__(self, token):
        self.pending.append(token)
        text = self.tokenizer.decode(self.pending)
        if not text.endswith("\ufffd") or len(self.pending) >= 4:
            self.flush(text)

    def flush(self, text=None):
        if self.pending:
            self.say(shown_text(self.tokenizer.decode(self.pending) if text is None else text), end="")
            self.pending = []


def print_texts(passages, tokenizer, prompt, say):
    """Each passage (an iterator of token ids, drawn as it is read) under a `--- sample i ---` line: the
    prompt, then each token as it comes. Stops when say.closed turns true. Returns the texts printed."""
    printed = []
    for i, tokens in enumerate(passages):
        say("--- sample %d ---" % (i + 1))
        say(shown_text(prompt), end="")
        echo, ids = Echo(tokenizer, say), []
        for token in tokens:
            ids.append(token)
            echo(token)
            if getattr(say, "closed", False):
                break
        echo.flush()
        say("")
        printed.append(prompt + tokenizer.decode(ids))
        if getattr(say, "closed", False):
            break
    return printed


def print_samples(names, seen, say, marks=True):
    """`sample  1: name` lines (marked new or seen, with marks), then the share of new ones if `seen` is
    known. `names` may be drawn one by one as they are printed (a generator); the drawing stops when
    say.closed turns true (its reader has gone). Returns the names printed."""
    printed, new = [], 0
    for i, name in enumerate(names):
        is_new = seen is not None and name not in seen
        mark = "" if seen is None or not marks else "  (new)" if is_new else "  (seen)"
        say("sample %2d: %s%s" % (i + 1, visible(name), mark))  # the data's escape codes shown, not obeyed
        printed.append(name)
        new += is_new
        if getattr(say, "closed", False):
            break
    if seen is not None and printed:
        say("new (not in the training data): %d of %d (%.0f%%)" % (new, len(printed), 100.0 * new / len(printed)))
    return printed
