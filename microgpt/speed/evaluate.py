"""Held-out evaluation: the mean loss on documents the model never trains on, each shared prefix once.

The model is causal: its prediction at position t depends only on the tokens up to t. Documents that
begin alike (names: "ma...", "jo...") therefore share those predictions, and a trie of the documents'
prefixes holds each one once: the 3,203 held-out names have 22,858 predicted positions but only 10,176
distinct prefixes. evaluate() runs the model over the trie one depth at a time (every node of a depth
stacked into one forward pass, each attending to the keys and values of its own ancestors, a KV cache
shaped like a tree), then scores every position of every document from its prefix's probabilities.

Each prefix's logits are computed with exactly the arithmetic of a whole-document forward pass, and the
per-position losses are summed in document order from 0, so the result is engine.loss_only's to the bit,
at less than half the cost. Not for training: the backward pass would need the same tree.
"""

import math

from . import engine, loops


class TreeOps(engine.FastOps):
    """The fast engine's ops, no gradients, over one depth of a prefix trie at a time: row i of a forward
    pass is a node at that depth, and `parents[i]` is the row of its parent in the previous depth."""

    def __init__(self, model):
        super().__init__(model, grad=False)
        self.depth = 0
        self.parents = []
        self.paths = []  # per layer, per row of the last pass: (keys, values) of the node and its ancestors
        self.layer = 0

    def next_depth(self, parents):
        self.depth += 1
        self.parents = parents

    def positions(self, tokens):
        return range(self.depth, self.depth + len(tokens))

    def embed(self, wte, wpe, docs):
        self.layer = 0
        return super().embed(wte, wpe, docs)

    def attention(self, q, k, v, n_head):
        C, out, paths = q.cols, [], []
        previous = self.paths[self.layer] if self.layer < len(self.paths) else None
        for i in range(q.rows):
            row = slice(i * C, (i + 1) * C)
            keys, values = previous[self.parents[i]] if previous else ([], [])
            keys, values = keys + k.data[row], values + v.data[row]  # the path from the root to this node
            data, _ = self.math.attention_forward(q.data[row], keys, values, C, n_head, self.depth)
            out += data
            paths.append((keys, values))
        if self.layer < len(self.paths):
            self.paths[self.layer] = paths  # the previous depth's paths are no longer needed
        else:
            self.paths.append(paths)
        self.layer += 1
        return engine.Tensor(out, q.rows, C)


def trie(inputs):
    """Levels of the prefix trie of the documents' inputs: levels[t] = (tokens, parent rows) of the nodes
    at depth t, and node_of[d][t] = the row at depth t of document d's prefix of length t + 1."""
    levels, node_of, index = [], [[] for _ in inputs], {}
    for d, tokens in enumerate(inputs):
        parent = -1
        for t, token in enumerate(tokens):
            key = (t, parent, token)
            if key not in index:
                while len(levels) <= t:
                    levels.append(([], []))
                index[key] = len(levels[t][0])
                levels[t][0].append(token)
                levels[t][1].append(parent)
            parent = index[key]
            node_of[d].append(parent)
    return levels, node_of


def token_losses(model, batch):
    """-log p(target) at every predicted position of every framed document in `batch`, one list per
    document: the numbers loops.nll_forward gives for a whole-batch forward pass."""
    n = [model.config.predictions(tokens) for tokens in batch]
    levels, node_of = trie([tokens[:k] for tokens, k in zip(batch, n)])
    ops, V, losses = TreeOps(model), model.config.vocab_size, [[] for _ in batch]
    for depth, (tokens, parents) in enumerate(levels):
        if depth:
            ops.next_depth(parents)
        logits = model.forward(ops, [[token] for token in tokens]).data
        # a node's V probabilities, made once for all the documents that share it and kept for this depth
        # only: every depth's would hold V floats per held-out position (a GB for Tiny Shakespeare's tail
        # with a BPE vocabulary of 512)
        probs = {}
        for d, doc in enumerate(batch):
            if depth < n[d]:
                i = node_of[d][depth]
                if i not in probs:
                    probs[i] = loops.softmax(logits[i * V:(i + 1) * V])
                p = probs[i][doc[depth + 1]]
                # a probability that underflowed to 0 costs infinitely much, as in loops.nll_forward
                losses[d].append(-math.log(p) if p > 0 else math.inf)
    return losses


def mean_loss(per_doc):
    # (1/n) * sum, summed left to right from 0 in document order: engine.FastOps.mean's arithmetic
    total, n = 0, 0
    for losses in per_doc:
        n += len(losses)
        for loss in losses:
            total += loss
    return (1 / n) * total


def evaluate(model, batch):
    """The mean loss over every predicted token of `batch`, as engine.loss_only(model, batch)."""
    return mean_loss(token_losses(model, batch))
