"""Sampling: let the trained model write, one token at a time.

Start from BOS (and any prompt), ask the model for the logits of the next token, turn them into
probabilities with a softmax at a temperature, draw a token, feed it back, and stop at BOS or when the
context is full. This uses plain floats through the fast engine's forward with a KV cache: no graph.

The arithmetic follows the reference: logits * temperature**-1, max-subtracted softmax with
e * total**-1, and random.choices over the probabilities, so the same random stream draws the same names.
"""

import math

from .engine import Decoder


def next_token_probs(logits, temperature):
    if temperature == 0:  # the limit of a cooler and cooler softmax: all mass on the likeliest token
        best = max(range(len(logits)), key=logits.__getitem__)
        return [1.0 if i == best else 0.0 for i in range(len(logits))]
    inv_t = temperature ** -1
    scaled = [l * inv_t for l in logits]
    m = max(scaled)
    exps = [math.exp(l - m) for l in scaled]
    total = 0
    for e in exps:
        total += e
    inv = total ** -1
    return [e * inv for e in exps]


def generate(model, tokenizer, rng, temperature=0.5, prompt="", max_len=None):
    """One document: the prompt followed by what the model writes after it."""
    block_size = model.config.block_size
    max_len = block_size if max_len is None else min(max_len, block_size)
    ids = tokenizer.encode(prompt)
    decoder = Decoder(model)
    token = tokenizer.bos
    for t in ids:  # read the prompt into the cache
        decoder.logits(token)
        token = t
    out = list(ids)
    choices = range(tokenizer.vocab_size)
    for _ in range(len(ids), max_len):
        probs = next_token_probs(decoder.logits(token), temperature)
        token = rng.choices(choices, weights=probs)[0]
        if token == tokenizer.bos:
            break
        out.append(token)
    return tokenizer.decode(out)
