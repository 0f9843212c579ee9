"""The `sample` command: load a checkpoint, write, and tell which samples are new and which were
already in the training data (like makemore's "in train" / "new"). It knows the training documents from
the data file's path and SHA-256 stored in the checkpoint.
"""

import math
import os
import random

from .. import data, sample
from ..errors import MicroGPTError
from ..speed.engine import cached_decoder
from . import checkpoint, cost
from .console import Lines, visible


def checkpoint_path(run=None, checkpoint_file=None):
    """The checkpoint named by --checkpoint FILE, or the one in --run DIR."""
    if checkpoint_file:
        return checkpoint_file
    if os.path.exists(run) and not os.path.isdir(run):
        raise MicroGPTError("%s is a file, not a run directory; pass a checkpoint file with --checkpoint" % run)
    return os.path.join(run, "checkpoint.json")


def sample_checkpoint(path, num_samples=20, temperature=0.5, top_k=0, prompt="", seed=None, max_len=None,
                      out=None, engine="fast", device="auto", dtype="auto"):
    """Print samples from the checkpoint at `path`. seed None continues the checkpoint's random stream,
    so a finished run's checkpoint writes the very names its training run printed. engine "torch" computes
    the logits with PyTorch on `device` in `dtype` (whichever engine trained the checkpoint).

    Each sample is printed as soon as it is drawn; when the reader of the output goes away (`| head -3`),
    sampling stops there. Returns the samples printed."""
    say = Lines(out)
    ck = checkpoint.load(path)
    cost.check_sampling(ck.model, num_samples)  # says so if the samples will take hours
    model, _, rng = checkpoint.restore(ck)
    tokenizer = data.Tokenizer(ck.vocab)
    block_size = ck.model.block_size
    missing = [ch for ch in dict.fromkeys(prompt) if ch not in tokenizer.index]
    if missing:  # a few of each, never the whole of a vocabulary of thousands, so the error stays one line
        raise MicroGPTError("the prompt has %d character%s not in the model's vocabulary: %s; %s"
                            % (len(missing), "s" * (len(missing) != 1), data.listing(missing),
                               vocabulary(tokenizer.chars)))
    if len(prompt) >= block_size:
        raise MicroGPTError("the prompt has %d characters but the model's context is %d tokens: BOS and at most "
                            "%d characters" % (len(prompt), block_size, block_size - 1))
    max_len = block_size if max_len is None else max_len
    if not len(prompt) < max_len <= block_size:
        raise MicroGPTError("max_len must be more than the prompt's %d characters and at most the context, %d; "
                            "got %d" % (len(prompt), block_size, max_len))
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
    say("sampling: num_samples=%d temperature=%s top_k=%d prompt=%r seed=%s max_len=%d"
        % (num_samples, temperature, top_k, prompt, "checkpoint" if seed is None else seed, max_len))
    if engine == "torch":
        say(decoder.describe())
    try:
        seen, why_unknown = set(checkpoint.training_data(ck).train_docs), None
    except MicroGPTError as e:
        seen, why_unknown = None, str(e)
    drawn = (sample.generate(model, tokenizer, rng, temperature, prompt, max_len, top_k, decoder)
             for _ in range(num_samples))
    names = print_samples(drawn, seen, say)
    if seen is None:
        say("new or seen: unknown, %s" % why_unknown)
    if say.failed is not None:  # not a reader that left (`| head`) but output lost (a full disk): an error
        raise MicroGPTError("cannot write the samples: %s" % (getattr(say.failed, "strerror", None) or say.failed))
    return names


def vocabulary(chars, most=40):
    """The vocabulary in a message: all of a small one, the start of a large one."""
    if len(chars) <= most:
        return "its %d characters are %s" % (len(chars), "".join(chars))
    return "its %d characters begin %s..." % (len(chars), "".join(chars[:most]))


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
