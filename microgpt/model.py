"""The GPT: its configuration, its parameters and its forward pass, written once for every engine.

The forward pass below is the architecture. It does no arithmetic itself: it calls a small set of
operations (`ops`, the interface in ops.py, each op's math and derivative there) that each engine
supplies. The scalar engine (scalar_engine.py) builds them from autograd Values; the fast engine
(speed/engine.py) computes them on flat lists of floats with a hand-written backward; the torch engine
on PyTorch tensors. All see the same calls in the same order.

Where this differs from GPT-2 (as Karpathy's microgpt does):
- RMSNorm without a learned gain instead of LayerNorm, and also right after the embeddings;
- ReLU instead of GeLU in the MLP;
- no biases, no dropout, no final norm before lm_head, and lm_head is not tied to wte.

Letters used in shape comments: T = one document's length, N = the positions of all the documents of a
batch, stacked; C = n_embd, V = vocab_size, nh = n_head, hs = head size C // nh.
"""

import random
from dataclasses import dataclass

from .errors import MicroGPTError


@dataclass
class GPTConfig:
    vocab_size: int = 27  # characters + 1 for BOS
    n_layer: int = 1  # transformer blocks
    n_embd: int = 16  # channels C of the residual stream
    n_head: int = 4  # attention heads; each sees n_embd // n_head channels
    block_size: int = 16  # context length: the most positions the model ever sees
    init_std: float = 0.08  # every weight starts as gauss(0, init_std)

    def predictions(self, tokens):
        """How many next tokens a framed document trains: one per position, at most block_size."""
        return min(self.block_size, len(tokens) - 1)

    def validate(self):
        for name in ("vocab_size", "n_layer", "n_embd", "n_head", "block_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise MicroGPTError("%s must be a positive whole number, got %r" % (name, value))
        if self.vocab_size < 2:
            raise MicroGPTError("vocab_size must be at least 2 (one character and BOS)")
        if self.n_embd % self.n_head:
            raise MicroGPTError("n_embd (%d) must be divisible by n_head (%d)" % (self.n_embd, self.n_head))
        if self.block_size < 2:
            raise MicroGPTError("block_size must be at least 2, got %d" % self.block_size)
        if not self.init_std > 0:
            raise MicroGPTError("init_std must be positive, got %r" % self.init_std)
        return self


def param_shapes(config):
    """(name, rows, cols) of every weight matrix, in the order they are drawn at initialisation.

    A matrix is stored as (n_out rows x n_in cols): row o holds the weights feeding output o.
    """
    C, V = config.n_embd, config.vocab_size
    shapes = [("wte", V, C), ("wpe", config.block_size, C), ("lm_head", V, C)]
    for i in range(config.n_layer):
        p = "layer%d." % i
        shapes += [(p + "attn_wq", C, C), (p + "attn_wk", C, C), (p + "attn_wv", C, C),
                   (p + "attn_wo", C, C), (p + "mlp_fc1", 4 * C, C), (p + "mlp_fc2", C, 4 * C)]
    return shapes


class GPT:
    """The parameters, as one flat list of floats, and the forward pass over an engine's ops."""

    def __init__(self, config, rng=None, params=None):
        """Weights drawn from `rng` (default random.Random(42)), or the given flat `params` (a checkpoint's)."""
        self.config = config.validate()
        self.shapes = param_shapes(config)
        # name -> (offset into self.params, rows, cols): every engine and the optimizer see one flat list
        self.layout = {}
        offset = 0
        for name, rows, cols in self.shapes:
            self.layout[name] = (offset, rows, cols)
            offset += rows * cols
        if params is not None:
            if len(params) != offset:
                raise ValueError("%d params for a model of %d" % (len(params), offset))
            self.params = list(params)
            return
        rng = rng if rng is not None else random.Random(42)
        gauss, std = rng.gauss, config.init_std
        self.params = [gauss(0, std) for _ in range(offset)]

    @property
    def num_params(self):
        return len(self.params)

    def forward(self, ops, docs):
        """Logits for the next token after each prefix of each document in `docs` (token lists, each at
        most block_size long), the documents' positions stacked in one tensor: (N, V), N = sum of T."""
        cfg = self.config
        w = ops.weights
        x = ops.embed(w["wte"], w["wpe"], docs)  # (N, C) token + position
        x = ops.rmsnorm(x)
        for i in range(cfg.n_layer):
            p = "layer%d." % i
            # attention: every position looks back at the positions of its document up to itself
            h = ops.rmsnorm(x)
            q = ops.linear(h, w[p + "attn_wq"])  # (N, C)
            k = ops.linear(h, w[p + "attn_wk"])
            v = ops.linear(h, w[p + "attn_wv"])
            a = ops.attention(q, k, v, cfg.n_head)  # (N, C), heads side by side
            x = ops.add(ops.linear(a, w[p + "attn_wo"]), x)  # residual
            # MLP: widen to 4C, ReLU, narrow back
            h = ops.rmsnorm(x)
            h = ops.relu(ops.linear(h, w[p + "mlp_fc1"]))  # (N, 4C)
            x = ops.add(ops.linear(h, w[p + "mlp_fc2"]), x)  # residual
        return ops.linear(x, w["lm_head"])  # (N, V)

    def loss(self, ops, batch):
        """Mean cross-entropy over every predicted token of every document in `batch`.

        Each document is [BOS] + chars + [BOS]; position t predicts token t+1. A document longer than
        the context is cut to its first block_size predictions.
        """
        inputs, targets = [], []
        for tokens in batch:
            n = self.config.predictions(tokens)
            inputs.append(tokens[:n])
            targets.append(tokens[1:n + 1])
        logits = self.forward(ops, inputs)
        return ops.mean(ops.nll(logits, targets))  # mean of -log softmax(logits)[target] over all positions
