"""Sampling: let the trained model write, one token at a time.

Start from BOS (and any prompt), ask the model for the logits of the next token, turn them into
probabilities with a softmax at a temperature, draw a token, feed it back, and stop at BOS or when the
context is full. This uses plain floats through the fast engine's forward with a KV cache: no graph
(`--engine torch` computes the logits with PyTorch instead: torch_engine.Sampler; the draws are the same).

The arithmetic follows the reference: logits * temperature**-1, max-subtracted softmax with
e * total**-1, and random.choices over the probabilities, so the same random stream draws the same names.

Top-k keeps only the k likeliest tokens (ties with the k-th are kept too) by giving the rest a logit of
-inf, so exp turns them into exactly 0; with top_k 0 nothing changes, to the bit.

`sample_checkpoint` is the `microgpt sample` command: load a checkpoint, write, and tell which samples are
new and which were already in the training data (like makemore's "in train" / "new"). It knows the
training documents from the data file's path and SHA-256 stored in the checkpoint.
"""

import functools
import math
import operator
import os
import random

from . import data
from .errors import MicroGPTError
from .speed import engine
from .tool import checkpoint, cost
from .tool.runs import Lines


class Overflow(MicroGPTError, ArithmeticError):
    """Logits that are not finite: one line for the user, and an ArithmeticError for whoever samples only
    if the numbers allow (the report)."""


def softmax(logits):
    # exp(l - max) / total: the max changes nothing but keeps exp from overflowing. The reference's
    # arithmetic: total summed left to right from 0 (what sum() did before Python 3.12), e * total**-1.
    m = max(logits)
    exps = [math.exp(l - m) for l in logits]
    inv = functools.reduce(operator.add, exps, 0) ** -1
    return [e * inv for e in exps]


def next_token_probs(logits, temperature, top_k=0):
    if top_k and top_k < len(logits):
        kth = sorted(logits, reverse=True)[top_k - 1]
        logits = [l if l >= kth else -math.inf for l in logits]
    if temperature == 0:  # the limit of a cooler and cooler softmax: all mass on the likeliest token
        best = max(range(len(logits)), key=logits.__getitem__)
        return [1.0 if i == best else 0.0 for i in range(len(logits))]
    inv_t = temperature ** -1  # the reference's logits / temperature, which a Value computes this way
    return softmax([l * inv_t for l in logits])


class CachedOps(engine.FastOps):
    """The fast engine's ops, without gradients, keeping every layer's keys and values (a KV cache): a
    new token then costs the work of one position, not of the whole prefix again."""

    def __init__(self, model):
        super().__init__(model, grad=False)
        self.cache = []  # (keys, values) per layer, in the order the forward pass calls attention
        self.pos = 0  # positions already in the cache
        self.layer = 0

    def embed(self, wte, wpe, docs):
        self.layer = 0  # a new forward pass: its first attention is layer 0's
        return super().embed(wte, wpe, docs)

    def positions(self, tokens):
        self.pos += len(tokens)
        return range(self.pos - len(tokens), self.pos)

    def attention(self, q, k, v, n_head):
        if self.layer == len(self.cache):
            self.cache.append(([], []))
        keys, values = self.cache[self.layer]
        self.layer += 1
        past = len(keys) // q.cols
        keys += k.data
        values += v.data
        out, _ = engine.attention_forward(q.data, keys, values, q.cols, n_head, past)
        return engine.Tensor(out, q.rows, q.cols)


def cached_decoder(model):
    """feed(token) -> the logits (a list) of the token after it: the fast engine with a KV cache."""
    ops = CachedOps(model)
    return lambda token: model.forward(ops, [[token]]).data


def generate(model, tokenizer, rng, temperature=0.5, prompt="", max_len=None, top_k=0, decoder=cached_decoder):
    """One document: the prompt followed by what the model writes after it (at most max_len characters).

    decoder(model) starts a document and returns its feed(token) -> next-token logits; another engine can
    supply its own (torch_engine.Sampler): the draws from the random stream stay the same."""
    block_size = model.config.block_size
    max_len = block_size if max_len is None else min(max_len, block_size)
    ids = tokenizer.encode(prompt)
    feed = (decoder or cached_decoder)(model)
    token = tokenizer.bos
    for t in ids:  # read the prompt into the cache
        feed(token)
        token = t
    out = list(ids)
    choices = range(tokenizer.vocab_size)
    for _ in range(len(ids), max_len):
        logits = feed(token)
        if not all(map(math.isfinite, logits)):  # weights so large that the forward pass overflowed
            raise Overflow("the model's scores for the next character are not finite numbers: its weights "
                                "are too large (up to %.3g; a diverged run's); sample from an earlier checkpoint "
                                "or train again with a smaller --lr" % max(map(abs, model.params)))
        probs = next_token_probs(logits, temperature, top_k)
        token = rng.choices(choices, weights=probs)[0]
        if token == tokenizer.bos:
            break
        out.append(token)
    return tokenizer.decode(out)


# --------------------------------------------------------------------------------------------------
# the `sample` command

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
    for ch in prompt:
        if ch not in tokenizer.index:
            raise MicroGPTError("the prompt character %r (U+%04X) is not in the model's vocabulary: %s"
                                % (ch, ord(ch), "".join(tokenizer.chars)))
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
    decoder = None
    if engine == "torch":
        from .speed import torch_engine
        decoder = torch_engine.Sampler.load(model, device, dtype)

    say("checkpoint: %s (step %d, %d params, vocab size %d)" % (path, ck.step, model.num_params,
                                                               tokenizer.vocab_size))
    say("sampling: num_samples=%d temperature=%s top_k=%d prompt=%r seed=%s max_len=%d"
        % (num_samples, temperature, top_k, prompt, "checkpoint" if seed is None else seed, max_len))
    if decoder:
        say(decoder.describe())
    try:
        seen, why_unknown = set(checkpoint.training_data(ck).train_docs), None
    except MicroGPTError as e:
        seen, why_unknown = None, str(e)
    drawn = (generate(model, tokenizer, rng, temperature, prompt, max_len, top_k, decoder) for _ in range(num_samples))
    names = print_samples(drawn, seen, say)
    if seen is None:
        say("new or seen: unknown, %s" % why_unknown)
    if say.failed is not None:  # not a reader that left (`| head`) but output lost (a full disk): an error
        raise MicroGPTError("cannot write the samples: %s" % (getattr(say.failed, "strerror", None) or say.failed))
    return names


def print_samples(names, seen, say, marks=True):
    """`sample  1: name` lines (marked new or seen, with marks), then the share of new ones if `seen` is
    known. `names` may be drawn one by one as they are printed (a generator); the drawing stops when
    say.closed turns true (its reader has gone). Returns the names printed."""
    printed, new = [], 0
    for i, name in enumerate(names):
        is_new = seen is not None and name not in seen
        mark = "" if seen is None or not marks else "  (new)" if is_new else "  (seen)"
        say("sample %2d: %s%s" % (i + 1, name, mark))
        printed.append(name)
        new += is_new
        if getattr(say, "closed", False):
            break
    if seen is not None and printed:
        say("new (not in the training data): %d of %d (%.0f%%)" % (new, len(printed), 100.0 * new / len(printed)))
    return printed
