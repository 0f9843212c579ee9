"""How long byte-level BPE (microgpt/bpe.py) takes to learn its merges, and how much it shortens the text.

    python benchmarks/bpe_train.py                       # Tiny Shakespeare, 512 tokens
    python benchmarks/bpe_train.py --data FILE --vocab-size 1024

Learns from the first 1 - val_fraction of the text, as `microgpt train --format text --tokenizer bpe`
does, with the progress line the run shows on stderr, then encodes both parts and checks that they decode
to themselves. Prints the seconds to learn and to encode, and tokens per character of each part (the
held-out part was not seen by the merges). A benchmark, not a test: it asserts only the round trip.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

from microgpt.tool.tokenizers import learn_bpe  # noqa: E402  (the checkout's, not an installed one)

SHAKESPEARE = os.path.join(os.path.dirname(HERE), "shared", "data", "tinyshakespeare.txt")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=SHAKESPEARE, help="a UTF-8 text file (default: %(default)s)")
    p.add_argument("--vocab-size", type=int, default=512, help="tokens in all, BOS included (default %(default)s)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="held-out tail (default %(default)s)")
    args = p.parse_args()
    with open(args.data, encoding="utf-8", newline="") as f:
        text = f.read().replace("\r\n", "\n").replace("\r", "\n")
    cut = len(text) - int(len(text) * args.val_fraction)
    train, val = text[:cut], text[cut:]
    start = time.time()
    tokenizer = learn_bpe([train], args.vocab_size, sys.stderr)
    learnt = time.time() - start
    start = time.time()
    train_ids, val_ids = tokenizer.encode(train), tokenizer.encode(val)
    encoded = time.time() - start
    assert tokenizer.decode(train_ids) == train and tokenizer.decode(val_ids) == val
    print("%s: %d characters, %d for training; Python %s" % (os.path.basename(args.data), len(text), len(train),
                                                             sys.version.split()[0]))
    print("learnt %d merges (vocab_size %d) in %.1f s; encoded both parts in %.1f s"
          % (len(tokenizer.merges), tokenizer.vocab_size, learnt, encoded))
    print("tokens per character: training %.3f, held-out %.3f" % (len(train_ids) / len(train),
                                                                  len(val_ids) / max(len(val), 1)))


if __name__ == "__main__":
    main()
