"""The course's shared plumbing, not a lesson: every stage imports it, so that each stage's file holds its idea.

It reads the names (downloading them to input.txt when absent), shuffles and splits them, builds the character
tokenizer, reads the --data flag, and runs the two loops every stage ends with: the held-out loss and the sampled
names. It does all of this as `python -m microgpt` does, so the losses of every stage compare with the package's.
Stage 00 writes the loss and the sampling out in full; from stage 01 on, a stage gives these loops its model as a
`reader` (below) and they do the rest.
"""

import argparse
import collections
import hashlib
import math
import os
import random
import sys
import urllib.request

NAMES_URL = "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"
NAMES_SHA256 = "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"
BLOCK = 16  # the package's context: a document counts for at most its first 16 predictions

Names = collections.namedtuple("Names", "train_docs val_docs chars BOS vocab_size frame")


def parser(description):
    """The stage's command line, with --data; the stage adds its own flags and calls parse()."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", default="input.txt", help="text file, one document per line (default: the names)")
    return p


def parse(p):
    return p.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook runs with the defaults


def read_docs(path):
    """The stripped, non-empty lines of `path`. An absent input.txt is first downloaded: the names."""
    if path == "input.txt" and not os.path.exists(path):
        url = os.environ.get("MICROGPT_NAMES_URL") or NAMES_URL
        try:
            raw = urllib.request.urlopen(url, timeout=60).read()
        except Exception as e:
            sys.exit(f"error: no input.txt here, and the names could not be downloaded from {url} ({e}); "
                     "save them as input.txt in this folder or pass --data FILE")
        if hashlib.sha256(raw).hexdigest() != NAMES_SHA256:
            sys.exit(f"error: what {url} sent is not the names list (its SHA-256 differs)")
        with open(path + ".part", "wb") as f:
            f.write(raw)
        os.replace(path + ".part", path)
    try:
        with open(path, encoding="utf-8-sig") as f:  # a line ends at LF, CRLF or CR
            return [line.strip() for line in f.read().split("\n") if line.strip()]
    except (OSError, UnicodeError) as e:
        sys.exit(f"error: cannot read {path}: {e}")


def load(path):
    """The documents of `path`, split and tokenized: Names(train_docs, val_docs, chars, BOS, vocab_size, frame).

    Seeds `random` with 42 first: the stage goes on drawing from that one stream (its weights, then its samples),
    as python -m microgpt does.
    """
    docs = read_docs(path)
    random.seed(42)
    random.shuffle(docs)
    n_val = int(len(docs) * 0.1)  # the held-out documents: the last 10% of the shuffled list
    if n_val == 0:
        sys.exit(f"error: {path} has {len(docs)} documents; holding out 10% takes at least 10")
    chars = sorted(set("".join(docs)))  # token i is chars[i], and BOS is the last token
    BOS = len(chars)
    stoi = {ch: i for i, ch in enumerate(chars)}

    def frame(doc):
        return ([BOS] + [stoi[ch] for ch in doc] + [BOS])[:BLOCK + 1]

    print(f"num docs: {len(docs)}")
    print(f"vocab size: {BOS + 1}")
    return Names(docs[:-n_val], docs[-n_val:], chars, BOS, BOS + 1, frame)


# A reader is how a stage lends its model to the loops below: reader(temperature) starts a new document and returns
# next_probs(token, pos), which takes the document's tokens one at a time (its position too) and gives the
# probabilities of the token after each, from the logits divided by the temperature.

def held_out_loss(docs, frame, reader):
    """The mean over every prediction of `docs` of -log p(the right next token): stage 00's loss_on."""
    total, n = 0.0, 0
    for doc in docs:
        tokens = frame(doc)
        next_probs = reader(1.0)
        for t in range(len(tokens) - 1):
            p = next_probs(tokens[t], t)[tokens[t + 1]]
            total -= math.log(p) if p > 0 else -math.inf
            n += 1
    return total / n


def print_samples(reader, chars, temperature, n=20):
    """Prints n names drawn from the model: start at BOS, draw each next token, stop when BOS comes back."""
    print("--- inference (new, hallucinated names) ---")
    BOS = len(chars)
    for i in range(n):
        next_probs, token, name = reader(temperature), BOS, []
        for pos in range(BLOCK):
            token = random.choices(range(BOS + 1), weights=next_probs(token, pos))[0]
            if token == BOS:
                break
            name.append(chars[token])
        print(f"sample {i + 1:2d}: {''.join(name)}")
