"""Sampling: let the trained model write, one token at a time.

Start from BOS (and any prompt), ask the model for the logits of the next token, turn them into
probabilities with a softmax at a temperature, draw a token, feed it back, and stop at BOS or when the
context is full (generate: a document). A text has no end: continue_text writes as many tokens as asked,
past the context too, the model always reading the last block_size of them (a sliding window).

Where the logits come from is a decoder: by default the scalar engine's forward pass over the whole
prefix (scalar_engine.decoder); the tool passes a faster one that computes the same numbers (the fast
engine with a KV cache, speed/engine.py; or PyTorch's, torch_engine.Sampler).

The arithmetic follows the reference: logits * temperature**-1, max-subtracted softmax with
e * total**-1, and random.choices over the probabilities, so the same random stream draws the same names.

Top-k keeps only the k likeliest tokens (ties with the k-th are kept too) by giving the rest a logit of
-inf, so exp turns them into exactly 0; with top_k 0 nothing changes, to the bit.
"""

import functools
import math
import operator

from . import scalar_engine
from .errors import MicroGPTError


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
    scaled = [l * inv_t for l in logits]
    if not math.isfinite(max(scaled)):  # large logits at a tiny temperature overflow: the same softmax from
        m = max(logits)  # (l - m) / T instead, each at most 0 (only then: the reference's bits stay the same)
        scaled = [(l - m) * inv_t for l in logits]
    return softmax(scaled)


def generate(model, tokenizer, rng, temperature=0.5, prompt="", max_len=None, top_k=0, decoder=None):
    """One document: the prompt followed by what the model writes after it (at most max_len characters).

    decoder(model) starts a document and returns its feed(token) -> next-token logits (default: the
    scalar engine's); a faster engine supplies its own: the draws from the random stream stay the same."""
    block_size = model.config.block_size
    max_len = block_size if max_len is None else min(max_len, block_size)
    ids = tokenizer.encode(prompt)
    feed = (decoder or scalar_engine.decoder)(model)
    token = tokenizer.bos
    for t in ids:  # read the prompt into the cache
        feed(token)
        token = t
    out = list(ids)
    for _ in range(len(ids), max_len):
        token = draw(model, feed(token), rng, temperature, top_k)
        if token == tokenizer.bos:
            break
        out.append(token)
    return tokenizer.decode(out)


def draw(model, logits, rng, temperature, top_k):
    """The next token, drawn from the model's logits: one rng.choices over the probabilities."""
    if not all(map(math.isfinite, logits)):  # weights so large that the forward pass overflowed
        raise Overflow("the model's scores for the next character are not finite numbers: its weights "
                       "are too large (up to %.3g; a diverged run's); sample from an earlier checkpoint "
                       "or train again with a smaller --lr" % max(map(abs, model.params)))
    probs = next_token_probs(logits, temperature, top_k)
    return rng.choices(range(len(logits)), weights=probs)[0]


def start_token(tokenizer):
    """What a text's sample follows, before any prompt: a line break, as at the start of a line (the text
    trained on never holds BOS; nanoGPT starts its Shakespeare samples the same way), else BOS, for a text
    of one line, whose model has never seen BOS either."""
    try:
        ids = tokenizer.encode("\n")
    except MicroGPTError:  # no line break in the vocabulary
        return tokenizer.bos
    return ids[0] if len(ids) == 1 else tokenizer.bos


def read(feed, tokens):
    """Feed `tokens` in turn and return the logits after the last; a decoder that can read them all in one
    pass (for the same numbers) offers feed.many."""
    if hasattr(feed, "many"):
        return feed.many(tokens)
    for t in tokens:
        logits = feed(t)
    return logits


def continue_text(model, tokenizer, rng, length, temperature=0.5, prompt="", top_k=0, decoder=None):
    """Yield the ids of `length` tokens that follow `prompt` (after start_token), one at a time as drawn.

    The model reads at most the last block_size tokens. Past that the window slides by one token per
    token, and every token in it moves to a new position: a KV cache of the old positions no longer
    holds, so the decoder starts again and reads the whole window (block_size positions of work per token,
    where the first block_size tokens cost one each)."""
    block_size = model.config.block_size
    start = decoder or scalar_engine.decoder
    window = ([start_token(tokenizer)] + tokenizer.encode(prompt))[-block_size:]
    feed = start(model)
    logits = read(feed, window)
    for i in range(length):
        token = draw(model, logits, rng, temperature, top_k)
        yield token
        if i + 1 == length:
            break  # no logits after the last one: they would cost a forward pass for nothing
        if len(window) == block_size:  # the window slides: read it again from the start
            window = window[1:] + [token]
            feed = start(model)
            logits = read(feed, window)
        else:
            window.append(token)
            logits = feed(token)
