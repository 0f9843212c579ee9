"""The GPT: parameter layout and initialisation, and its loss and every gradient, checked three ways.

1. central finite differences of the loss, one parameter at a time (stdlib only);
2. the scalar engine (autograd Values) and the fast engine against those and against each other;
3. an independent PyTorch float64 re-implementation written here, loaded with the same weights
   (skipped, saying so, when torch is not installed; CI installs it).
"""

import math
import random

import pytest

from microgpt import scalar_engine
from microgpt.data import Tokenizer
from microgpt.model import GPT, GPTConfig
from microgpt.speed import engine

LETTERS = "abcdefghijklmnopqrstuvwxyz"
TOKENIZER = Tokenizer(LETTERS)  # the names dataset's vocabulary: 26 letters + BOS = 27
DOCS = ["emma", "ava", "liam"]  # a few documents of different lengths, all within the default context
LONG_DOC = "maximilianos"  # 12 letters, 13 predictions: longer than block_size 4 below


def make_model(**kw):
    return GPT(GPTConfig(vocab_size=TOKENIZER.vocab_size, **kw), random.Random(42))


def batch_of(docs):
    return [TOKENIZER.frame(d) for d in docs]


# --------------------------------------------------------------------------------------------------
# layout and initialisation

def test_default_param_count_and_layout():
    model = make_model()
    assert model.num_params == 4192 == len(model.params)
    expected = [("wte", 27, 16), ("wpe", 16, 16), ("lm_head", 27, 16),
                ("layer0.attn_wq", 16, 16), ("layer0.attn_wk", 16, 16), ("layer0.attn_wv", 16, 16),
                ("layer0.attn_wo", 16, 16), ("layer0.mlp_fc1", 64, 16), ("layer0.mlp_fc2", 16, 64)]
    offset = 0
    for name, rows, cols in expected:
        assert model.layout[name] == (offset, rows, cols), name
        offset += rows * cols
    assert offset == 4192 and len(model.layout) == len(expected)


def test_init_draws_gauss_in_layout_order():
    # every weight is gauss(0, 0.08) from the one random stream, matrices in order, row by row
    model = GPT(GPTConfig(vocab_size=27, n_layer=2), random.Random(7))
    rng = random.Random(7)
    assert model.params == [rng.gauss(0, 0.08) for _ in range(model.num_params)]
    assert model.num_params == 27 * 16 * 2 + 16 * 16 + 2 * 12 * 16 * 16


def test_small_config_param_count():
    model = make_model(n_layer=2, n_embd=8, n_head=2, block_size=4)
    # wte + wpe + lm_head + 2 layers of (4 C^2 attention + 8 C^2 MLP)
    assert model.num_params == 27 * 8 + 4 * 8 + 27 * 8 + 2 * 12 * 8 * 8 == 2000


# --------------------------------------------------------------------------------------------------
# gradients against finite differences
#
# A central difference with step h has truncation error h^2 |L'''| / 6 and rounding error ~ eps |L| / h.
# Measured here (worst over all parameters and both configs, kinks aside): 1.7e-8 at h = 1e-4, 2.4e-10 at h = 1e-5,
# 1e-9 at h = 1e-6, so h = 1e-5 sits at the optimum. The loss has kinks where a ReLU input crosses 0:
# at h = 1e-4 one of them is straddled in the small config (error 1.7e-4); at 1e-5 none is. Gradients
# are at most ~0.4 here, and the tolerance 1e-7 + 1e-6 |g| is ~400x the measured error yet far below
# any real mistake, which changes a gradient by O(|g|).

H = 1e-5


def finite_differences(model, batch):
    params = model.params
    fds = []
    for i, p in enumerate(params):
        params[i] = p + H
        up = engine.loss_only(model, batch)
        params[i] = p - H
        down = engine.loss_only(model, batch)
        params[i] = p
        fds.append((up - down) / (2 * H))
    return fds


def assert_grads_close(grads, reference, abs_tol, rel_tol):
    assert len(grads) == len(reference)
    bad = [(i, g, r) for i, (g, r) in enumerate(zip(grads, reference)) if not abs(g - r) <= abs_tol + rel_tol * abs(r)]
    assert not bad, "%d of %d gradients differ, first: %r" % (len(bad), len(grads), bad[:5])


@pytest.mark.parametrize("kw, docs", [
    ({}, DOCS),
    ({"n_layer": 2, "n_embd": 8, "n_head": 2, "block_size": 4}, DOCS + [LONG_DOC]),
], ids=["default", "2-layer-8-wide-context-4"])
def test_gradients_match_finite_differences(kw, docs):
    model = make_model(**kw)
    batch = batch_of(docs)
    before = list(model.params)
    fds = finite_differences(model, batch)
    assert model.params == before
    scalar_loss, scalar_grads = scalar_engine.loss_and_grad(model, batch)
    fast_loss, fast_grads = engine.loss_and_grad(model, batch)
    assert math.isclose(scalar_loss, engine.loss_only(model, batch), rel_tol=1e-14)
    assert math.isclose(scalar_loss, fast_loss, rel_tol=1e-14)
    assert_grads_close(scalar_grads, fds, 1e-7, 1e-6)
    assert_grads_close(fast_grads, fds, 1e-7, 1e-6)
    assert sum(1 for g in fds if abs(g) > 1e-6) > len(fds) // 3  # the check is not vacuous


def test_long_document_is_cut_to_the_context():
    model = make_model(n_layer=2, n_embd=8, n_head=2, block_size=4)
    (tokens,) = batch_of([LONG_DOC])
    # block_size 4: the first 4 positions predict tokens 1..4, the rest of the document is not seen
    assert engine.loss_only(model, [tokens]) == engine.loss_only(model, [tokens[:5]])
    assert engine.loss_only(model, [tokens]) != engine.loss_only(model, [tokens[:4]])
    assert scalar_engine.loss_and_grad(model, [tokens]) == scalar_engine.loss_and_grad(model, [tokens[:5]])


def test_untrained_loss_is_near_uniform():
    # small random weights give nearly uniform predictions: loss ~ ln(27) = 3.296
    loss, _ = engine.loss_and_grad(make_model(), batch_of(DOCS))
    assert abs(loss - math.log(27)) < 0.2


# --------------------------------------------------------------------------------------------------
# PyTorch float64, written independently from model.py

def torch_loss(torch, model, params, batch):
    cfg = model.config
    C, nh = cfg.n_embd, cfg.n_head
    hs = C // nh
    w = {name: params[off:off + rows * cols].view(rows, cols) for name, (off, rows, cols) in model.layout.items()}

    def rmsnorm(x):
        return x * (x.pow(2).mean(dim=-1, keepdim=True) + 1e-5) ** -0.5

    total, count = 0, 0
    for tokens in batch:
        T = min(cfg.block_size, len(tokens) - 1)
        idx = torch.tensor(tokens[:T])
        targets = torch.tensor(tokens[1:T + 1])
        x = rmsnorm(w["wte"][idx] + w["wpe"][:T])  # (T, C)
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        for i in range(cfg.n_layer):
            p = "layer%d." % i
            h = rmsnorm(x)
            q, k, v = (h @ w[p + name].T for name in ("attn_wq", "attn_wk", "attn_wv"))
            q, k, v = (t.view(T, nh, hs).transpose(0, 1) for t in (q, k, v))  # (nh, T, hs)
            att = (q @ k.transpose(1, 2)) / math.sqrt(hs)  # (nh, T, T)
            att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
            y = (att @ v).transpose(0, 1).reshape(T, C)
            x = x + y @ w[p + "attn_wo"].T
            h = torch.relu(rmsnorm(x) @ w[p + "mlp_fc1"].T)
            x = x + h @ w[p + "mlp_fc2"].T
        logits = x @ w["lm_head"].T  # (T, V)
        total = total + torch.nn.functional.cross_entropy(logits, targets, reduction="sum")
        count += T
    return total / count


@pytest.mark.parametrize("kw, docs", [
    ({}, DOCS),
    ({}, ["olivia"]),
    ({"n_layer": 2, "n_embd": 8, "n_head": 2, "block_size": 4}, DOCS + [LONG_DOC]),
    ({"n_layer": 2, "n_embd": 12, "n_head": 3, "block_size": 8}, [LONG_DOC, "x"]),
], ids=["default", "default-one-doc", "2-layer-8-wide-context-4", "3-heads"])
def test_against_pytorch_float64(kw, docs):
    torch = pytest.importorskip("torch", reason="torch is not installed: the PyTorch float64 cross-check is skipped")
    torch.set_num_threads(1)
    model = make_model(**kw)
    batch = batch_of(docs)
    params = torch.tensor(model.params, dtype=torch.float64, requires_grad=True)
    loss = torch_loss(torch, model, params, batch)
    loss.backward()
    reference = params.grad.tolist()
    for module in (scalar_engine, engine):
        ours, grads = module.loss_and_grad(model, batch)
        assert abs(ours - loss.item()) <= 1e-9, module.__name__
        assert_grads_close(grads, reference, 1e-9, 0.0)
