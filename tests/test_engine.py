"""The fast engine against the scalar one, and the scalar one against microgpt's textbook Value.

(The generated kernels against the fast engine's plain loops: test_kernels.py.)

The scalar engine is the living definition: on random small models and batches the fast engine must give
the same logits and loss to the last bit (its forwards do the same arithmetic in the same order) and the
same gradients to rounding (its backwards sum in another order: ~1e-16 relative, checked at 1e-12).
The scalar engine's shortcuts (constants and sums of products not made into nodes) must leave its
gradients identical to the bit to those of the textbook graph, which builds every node.
"""

import math
import random
import sys

import pytest

from microgpt import scalar_engine
from microgpt.autograd import Value
from microgpt.model import GPT, GPTConfig
from microgpt.optim import SGD, Adam
from microgpt.scalar_engine import ScalarOps, matrices
from microgpt.speed import engine, loops


def random_case(seed):
    """A small random model and a batch of documents, some longer than its context."""
    rng = random.Random(seed)
    n_embd = rng.choice([8, 12, 16])
    n_head = rng.choice([h for h in (1, 2, 4) if n_embd % h == 0])
    config = GPTConfig(vocab_size=rng.randint(3, 12), n_layer=rng.randint(1, 2), n_embd=n_embd,
                       n_head=n_head, block_size=rng.choice([2, 3, 5, 8, 16]))
    bos = config.vocab_size - 1
    batch = [[bos] + [rng.randrange(bos) for _ in range(rng.randint(0, 20))] + [bos]
             for _ in range(rng.randint(1, 4))]
    return GPT(config, random.Random(seed)), batch


def close(a, b):
    return abs(a - b) <= 1e-12 * abs(b) + 1e-14


def assert_grads_close(fast, scalar):
    assert len(fast) == len(scalar)
    bad = [(i, f, s) for i, (f, s) in enumerate(zip(fast, scalar)) if not close(f, s)]
    assert not bad, "%d gradients differ, first (index, fast, scalar): %r" % (len(bad), bad[0])


SEEDS = range(12)


@pytest.mark.parametrize("seed", SEEDS)
def test_logits_loss_and_every_gradient_agree(seed):
    model, batch = random_case(seed)
    for tokens in batch:
        n = min(model.config.block_size, len(tokens) - 1)
        fast = model.forward(engine.FastOps(model, grad=False), [tokens[:n]]).data
        scalar = [v.data for row in model.forward(scalar_engine.ScalarOps(model), [tokens[:n]]) for v in row]
        assert fast == scalar  # to the bit
    loss_f, grads_f = engine.loss_and_grad(model, batch)
    loss_s, grads_s = scalar_engine.loss_and_grad(model, batch)
    assert loss_f == loss_s
    assert_grads_close(grads_f, grads_s)
    assert any(g != 0 for g in grads_f)
    assert engine.loss_only(model, batch) == loss_f


@pytest.mark.parametrize("seed", SEEDS[:4])
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_training_steps_keep_the_engines_together(seed, optimizer):
    model_f, batch = random_case(seed)
    model_s, _ = random_case(seed)
    opt_f, opt_s = (Adam(model_f.num_params), Adam(model_s.num_params)) if optimizer == "adam" else (SGD(), SGD())
    rng = random.Random(seed)
    for step in range(4):
        docs = rng.sample(batch, rng.randint(1, len(batch)))
        loss_f, grads_f = engine.loss_and_grad(model_f, docs)
        loss_s, grads_s = scalar_engine.loss_and_grad(model_s, docs)
        # step 1 starts from the same weights, so the same bits; after that the weights differ by rounding
        if step == 0:
            assert loss_f == loss_s
            assert_grads_close(grads_f, grads_s)
        assert abs(loss_f - loss_s) < 1e-12
        opt_f.step(model_f.params, grads_f, 0.01)
        opt_s.step(model_s.params, grads_s, 0.01)
    assert max(abs(a - b) for a, b in zip(model_f.params, model_s.params)) < 1e-12
    assert model_f.params != random_case(seed)[0].params  # they did move


@pytest.mark.parametrize("seed", SEEDS[:6])
def test_decoder_with_kv_cache_gives_the_full_forward_logits(seed):
    model, batch = random_case(seed)
    tokens = max(batch, key=len)[:model.config.block_size]
    V = model.config.vocab_size
    full = model.forward(engine.FastOps(model, grad=False), [tokens]).data
    ops = engine.CachedOps(model)
    for t, token in enumerate(tokens):
        assert model.forward(ops, [[token]]).data == full[t * V:(t + 1) * V]


# --------------------------------------------------------------------------------------------------
# the reference: Karpathy's Value as published, constants and all


class TextbookValue(Value):
    """microgpt's Value as published: every constant becomes a node, a sum of products is a chain of
    + nodes (the builtin sum), and backward sorts the graph recursively."""
    __slots__ = ()

    def __add__(self, other):
        other = other if isinstance(other, Value) else TextbookValue(other)
        return TextbookValue(self.data + other.data, (self, other), (1, 1))

    def __mul__(self, other):
        other = other if isinstance(other, Value) else TextbookValue(other)
        return TextbookValue(self.data * other.data, (self, other), (other.data, self.data))

    def __pow__(self, other):
        return TextbookValue(self.data ** other, (self,), (other * self.data ** (other - 1),))

    def log(self):
        return TextbookValue(math.log(self.data), (self,), (1 / self.data,))

    def exp(self):
        return TextbookValue(math.exp(self.data), (self,), (math.exp(self.data),))

    def relu(self):
        return TextbookValue(max(0, self.data), (self,), (float(self.data > 0),))

    @staticmethod
    def dot(a, b):
        return sum(ai * bi for ai, bi in zip(a, b))  # the way microgpt writes every such sum

    def backward(self):
        topo, visited = [], set()

        def build_topo(v):
            if v not in visited:
                visited.add(v)
                for child in v._children:
                    build_topo(child)
                topo.append(v)
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 10000))  # only for models deeper than the default
        try:
            build_topo(self)
        finally:
            sys.setrecursionlimit(limit)
        self.grad = 1
        for v in reversed(topo):
            for child, local_grad in zip(v._children, v._local_grads):
                child.grad += local_grad * v.grad


class TextbookOps(ScalarOps):
    """The scalar engine's ops over TextbookValues."""
    dot = staticmethod(TextbookValue.dot)

    def __init__(self, model):
        self.leaves = [TextbookValue(p) for p in model.params]
        self.weights = matrices(self.leaves, model.layout)


def textbook_loss_and_grad(model, batch):
    ops = TextbookOps(model)
    loss = model.loss(ops, batch)
    loss.backward()
    return loss.data, [float(p.grad) for p in ops.leaves]


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_scalar_gradients_are_the_textbook_graphs_to_the_bit(seed):
    # the textbook Value wraps every constant in a node and sums products with sum(); the scalar engine
    # makes neither into nodes, yet must accumulate every gradient in the very same order
    model, batch = random_case(seed)
    loss_s, grads_s = scalar_engine.loss_and_grad(model, batch)
    loss_t, grads_t = textbook_loss_and_grad(model, batch)
    assert loss_s == loss_t
    assert grads_s == grads_t


def engines_agree(seeds, math=None):
    """Loss to the bit and every gradient to 1e-12, fast engine against scalar engine, on random cases."""
    for seed in seeds:
        model, batch = random_case(seed)
        ops = engine.FastOps(model, math=math)
        loss = model.loss(ops, batch)
        loss_f, grads_f = loss.data[0], ops.backward(loss)
        loss_s, grads_s = scalar_engine.loss_and_grad(model, batch)
        assert loss_f == loss_s
        assert_grads_close(grads_f, grads_s)


def test_the_plain_loops_give_the_scalar_engines_numbers():
    # what PyPy runs, and MICROGPT_KERNELS=0: loops.py as written, without the generated kernels
    engines_agree(SEEDS[:6], math=loops)


def test_weight_gradients_of_a_batch_accumulate():
    # a weight used by several documents gets the sum of their gradients, not the last one
    model, _ = random_case(0)
    bos = model.config.vocab_size - 1
    a, b = [bos, 0, 1, bos], [bos, 1, 1, 0, bos]
    _, g_ab = engine.loss_and_grad(model, [a, b])
    _, g_a = engine.loss_and_grad(model, [a])
    _, g_b = engine.loss_and_grad(model, [b])
    n_a, n_b = len(a) - 1, len(b) - 1  # the batch loss is the mean over all predicted tokens
    expected = [(n_a * x + n_b * y) / (n_a + n_b) for x, y in zip(g_a, g_b)]
    assert all(close(x, y) or abs(x - y) < 1e-13 for x, y in zip(g_ab, expected))


def test_a_target_with_probability_zero_costs_infinity_in_both_engines():
    # exp(-1000) underflows: p(target) is exactly 0.0, as when a diverging run pushes logits far apart
    losses, _ = loops.nll_forward([0.0, -1000.0], [1], 2)
    assert losses == [float("inf")]
    logits = [[scalar_engine.Value(0.0), scalar_engine.Value(-1000.0)]]
    assert scalar_engine.ScalarOps.nll(None, logits, [[1]])[0].data == float("inf")
