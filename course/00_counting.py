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
import math
import random

import names  # the course's plumbing (names.py, beside this file): the data, the flags

parser = names.parser("Course stage 00: a bigram model from counts.")
parser.add_argument("--smoothing", type=float, default=1.0, help="pretend every pair was seen this many more times")
args = names.parse(parser)

# %% [markdown]
# ## The data, the tokens, the held-out names
#
# The same documents, split and tokens as `python -m microgpt`, so the losses of every stage compare.
# `names.load` reads one name per line, shuffles them with seed 42 (the start of the one random stream that later
# stages also draw their weights and samples from) and holds out the last 10%: `val_docs`, never trained on, so
# that their loss measures what the model learned about names in general rather than these names.
# The tokenizer gives one token per character, token i being `chars[i]` in sorted order, and one more, BOS
# (`vocab_size - 1`), which marks where a name begins and ends: `frame("emma")` is the ids of
# [BOS, e, m, m, a, BOS], cut to 17 tokens (16 predictions: `BLOCK`, the package's context). That code is plumbing,
# shared by every stage, in `names.py`.

# %%
train_docs, val_docs, chars, BOS, vocab_size, frame = names.load(args.data)  # prints num docs, vocab size
BLOCK = names.BLOCK  # a document counts for at most its first 16 predictions

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
