# %% [markdown]
# # Stage 00: counting
#
# The simplest language model of names: the next character depends only on the one before it (a bigram).
# Count every pair of neighbouring characters in the training names, turn each row of counts into
# probabilities, and that table *is* the model. No training, no gradients: just counting.
#
# Run it: `python 00_counting.py` (reads `input.txt`, downloading the names when it is absent) or
# `python 00_counting.py --data FILE`. It ends with the loss on names it has never seen.

# %%
import argparse
import hashlib
import math
import os
import random
import sys
import urllib.request

parser = argparse.ArgumentParser(description="Course stage 00: a bigram model from counts.")
parser.add_argument("--data", default="input.txt", help="text file, one document per line (default: the names)")
parser.add_argument("--smoothing", type=float, default=1.0, help="pretend every pair was seen this many more times")
args = parser.parse_args([] if "ipykernel" in sys.modules else None)  # a notebook runs with the defaults

# %% [markdown]
# ## The data, the tokens, the held-out names
#
# The same documents, split and tokens as `python -m microgpt`, so the losses of every stage compare:
# shuffle with seed 42, hold out the last 10%, one token per character plus BOS, which marks where a
# name begins and ends.

# %%
NAMES_URL = "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"
NAMES_SHA256 = "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"


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


docs = read_docs(args.data)
random.seed(42)  # one random stream, as python -m microgpt's: the shuffle, then the weights, then the samples
random.shuffle(docs)
n_val = int(len(docs) * 0.1)  # the held-out documents: the last 10% of the shuffled list
if n_val == 0:
    sys.exit(f"error: {args.data} has {len(docs)} documents; holding out 10% takes at least 10")
train_docs, val_docs = docs[:-n_val], docs[-n_val:]
chars = sorted(set("".join(docs)))  # the tokenizer: token i is chars[i], and BOS is the last token
BOS, vocab_size = len(chars), len(chars) + 1
stoi = {ch: i for i, ch in enumerate(chars)}
BLOCK = 16  # the package's context: a document counts for at most its first 16 predictions


def frame(doc):
    return ([BOS] + [stoi[ch] for ch in doc] + [BOS])[:BLOCK + 1]


print(f"num docs: {len(docs)}")
print(f"vocab size: {vocab_size}")

# %% [markdown]
# ## Count, then normalize
#
# `counts[a][b]` is how often token b follows token a in the training names. The model's probability is
# `p(b | a) = (counts[a][b] + s) / (sum_b' counts[a][b'] + s * V)`: with smoothing `s` no pair is impossible,
# which matters when a held-out name contains a pair the training names never did (log 0 is -infinity).

# %%
counts = [[0] * vocab_size for _ in range(vocab_size)]
for doc in train_docs:
    tokens = frame(doc)
    for a, b in zip(tokens, tokens[1:]):
        counts[a][b] += 1
s = args.smoothing
probs = [[(c + s) / ((sum(row) + s * vocab_size) or 1) for c in row] for row in counts]  # (or 1: a row never seen)

# %% [markdown]
# ## The loss: how surprised the model is
#
# The loss of a document is the mean of `-log p(next token)` over its predictions; over a set of
# documents, the mean over all their predictions. Guessing uniformly costs `log V` per token; every bit
# of structure the model has learned takes something off that.

# %%
def loss_on(docs):
    total, n = 0.0, 0
    for doc in docs:
        tokens = frame(doc)
        for a, b in zip(tokens, tokens[1:]):
            total -= math.log(probs[a][b]) if probs[a][b] > 0 else -math.inf
            n += 1
    return total / n


print(f"uniform guess: loss {math.log(vocab_size):.4f}")
print(f"training names: loss {loss_on(train_docs):.4f}")

# %% [markdown]
# ## Sampling: let the model write
#
# Start at BOS, draw the next token from its row of probabilities, and go on until BOS comes again.

# %%
print("--- inference (new, hallucinated names) ---")
for i in range(20):
    token, name = BOS, []
    for _ in range(BLOCK):
        token = random.choices(range(vocab_size), weights=probs[token])[0]
        if token == BOS:
            break
        name.append(chars[token])
    print(f"sample {i + 1:2d}: {''.join(name)}")

# %%
print(f"held-out loss {loss_on(val_docs):.4f}")
