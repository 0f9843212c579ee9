"""Value: every operation's gradient against central finite differences, and the shape of backward().

Central differences: f'(x) = (f(x+h) - f(x-h)) / 2h + O(h^2 f'''), with rounding error ~ eps |f| / h.
With inputs kept in [-3, 3] (and away from poles and kinks) and h = 1e-6 (1 + |x|), both errors stay
below ~1e-8 relative, so a tolerance of 1e-6 cannot hide a wrong derivative (those are off by O(1)).
"""

import math
import sys

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from microgpt.autograd import Value

x_ = st.floats(-3, 3, allow_nan=False, allow_infinity=False)
positive = st.floats(0.2, 3)
away_from_zero = st.one_of(st.floats(-3, -0.2), st.floats(0.2, 3))


def grads_and_fd(f, *xs):
    """(backward's gradients, central finite differences) of f at xs; f takes and returns Values."""
    leaves = [Value(x) for x in xs]
    out = f(*leaves)
    out.backward()
    fds = []
    for i, x in enumerate(xs):
        h = 1e-6 * (1 + abs(x))
        up = list(xs)
        down = list(xs)
        up[i] += h
        down[i] -= h
        fds.append((f(*map(Value, up)).data - f(*map(Value, down)).data) / (2 * h))
    return [leaf.grad for leaf in leaves], fds


def check(f, *xs):
    grads, fds = grads_and_fd(f, *xs)
    for g, fd in zip(grads, fds):
        assert math.isclose(g, fd, rel_tol=1e-6, abs_tol=1e-6), (grads, fds)


@given(x_, x_)
def test_add_sub_mul(a, b):
    check(lambda a, b: a + b, a, b)
    check(lambda a, b: a - b, a, b)
    check(lambda a, b: a * b, a, b)
    check(lambda a, b: a * a - b, a, b)  # one Value used twice


@given(x_, away_from_zero)
def test_div(a, b):
    check(lambda a, b: a / b, a, b)


@given(x_, away_from_zero)
def test_number_operands_and_reflected(a, b):
    check(lambda a: a + 2.5, a)
    check(lambda a: 2.5 + a, a)
    check(lambda a: a - 1, a)
    check(lambda a: 1 - a, a)
    check(lambda a: 2 * a, a)
    check(lambda a: a * -0.5, a)
    check(lambda a: a / 4, a)
    check(lambda b: 10.0 / b, b)
    check(lambda a: -a, a)


@given(x_, positive, away_from_zero, st.sampled_from([0, 1, 2, 3, -1, -2]), st.sampled_from([0.5, -0.5, 1.5, -1.0]))
def test_pow(a, p, z, n, r):
    check(lambda a: a ** n, a if n > 0 else z)  # whole exponents: any base (nonzero unless n > 0)
    check(lambda p: p ** r, p)  # fractional exponents: positive base


@given(away_from_zero, x_, positive)
def test_relu_exp_log(k, a, p):
    check(lambda k: k.relu(), k)  # |k| >= 0.2: no finite difference straddles the kink at 0
    check(lambda a: a.exp(), a)
    check(lambda p: p.log(), p)


def test_relu_values():
    assert Value(-2.0).relu().data == 0 and Value(3.0).relu().data == 3.0
    for x, g in ((-2.0, 0.0), (3.0, 1.0)):
        v = Value(x)
        v.relu().backward()
        assert v.grad == g


@given(x_, away_from_zero, positive)
def test_compositions(a, b, p):
    # the shapes the model uses: softmax, log-softmax, rmsnorm, a ReLU neuron
    def softmax_first(a, b, p):
        m = max(a.data, b.data, p.data)
        exps = [(v - m).exp() for v in (a, b, p)]
        return exps[0] / sum(exps)

    def nll(a, b, p):
        return -softmax_first(a, b, p).log()

    def rms(a, b, p):
        return a * ((a * a + b * b + p * p) / 3 + 1e-5) ** -0.5

    def neuron(a, b, p):
        pre = 0.7 * a - 1.3 * b + p
        assume(abs(pre.data) > 1e-3)  # a finite difference across the ReLU's kink would be meaningless
        return (pre.relu() * b + (a / (b * b + 1)).exp() * 0.5) ** 2

    def everything(a, b, p):
        return (1 - a) * (10.0 / b) + (p.log() - 2 * a.exp()) / (1 + p ** 2) - (-b) ** 3

    for f in (softmax_first, nll, rms, neuron, everything):
        check(f, a, b, p)


@given(st.lists(st.tuples(x_, x_), min_size=1, max_size=6))
def test_dot_is_the_sum_of_products_in_value_and_gradient(pairs):
    # Value.dot is one node for sum(a_i * b_i): against finite differences, and against the 2n nodes it
    # stands for, value and every gradient to the bit
    xs = [x for pair in pairs for x in pair]
    n = len(pairs)

    def dot(*v):
        return Value.dot(v[0::2], v[1::2]) * 1.5
    check(dot, *xs)
    a, b = [Value(x) for x in xs[0::2]], [Value(x) for x in xs[1::2]]
    one = Value.dot(a, b)
    one.backward()
    a2, b2 = [Value(x) for x in xs[0::2]], [Value(x) for x in xs[1::2]]
    many = sum(ai * bi for ai, bi in zip(a2, b2))
    many.backward()
    assert one.data == many.data and len(one._children) == 2 * n
    assert [v.grad for v in a + b] == [v.grad for v in a2 + b2]


def test_diamond_accumulates():
    # d = b * c with b = a^2 and c = a + b, so d = a^3 + a^4 and dd/da = 3a^2 + 4a^3 along all paths
    a = Value(3.0)
    b = a * a
    c = a + b
    d = b * c
    d.backward()
    assert d.data == 3.0 ** 3 + 3.0 ** 4
    assert a.grad == 3 * 9 + 4 * 27
    assert b.grad == c.data + b.data  # d(b*c)/db with c depending on b: c + b * dc/db
    x = Value(2.0)
    (x + x + x).backward()
    assert x.grad == 3


def test_deep_chain_is_not_recursive():
    depth = 10000
    assert depth > sys.getrecursionlimit()
    x = Value(1.0)
    y = x
    for _ in range(depth):
        y = y * 1.0001 + 0.0
    y.backward()
    # the chain rule multiplies 10,000 local derivatives of 1.0001
    assert math.isclose(x.grad, 1.0001 ** depth, rel_tol=1e-9)
    assert math.isclose(y.data, 1.0001 ** depth, rel_tol=1e-9)


def test_pow_needs_a_number():
    with pytest.raises(TypeError):
        Value(2.0) ** Value(3.0)


def test_log_of_zero_is_minus_infinity_and_zeroth_power_is_flat():
    # a probability that underflows to 0 in a diverging run must give an infinite loss, not a crash
    p = Value(0.0)
    y = p.log()
    y.backward()
    assert y.data == -math.inf and p.grad == math.inf
    with pytest.raises(ValueError):
        Value(-1.0).log()
    x = Value(0.0)
    z = x ** 0
    z.backward()
    assert z.data == 1.0 and x.grad == 0.0


def test_against_pytorch():
    torch = pytest.importorskip("torch", reason="torch is not installed: the PyTorch cross-check is skipped")
    for a0, b0, p0 in ((-1.5, 2.0, 0.7), (0.3, -0.8, 2.9), (2.2, 1.1, 0.25)):
        def f(a, b, p, exp, log, relu):
            c = a * b + (1 - a) / b - 10.0 / (b * b + 1)
            d = relu(c) + relu(-c) * 0.5 + exp(-(a ** 2)) * log(p) + p ** -0.5
            e = (d * c + 2 * d) ** 2 / (1 + exp(a - b))
            return e - e * a + log(e + 1)

        a, b, p = Value(a0), Value(b0), Value(p0)
        out = f(a, b, p, Value.exp, Value.log, Value.relu)
        out.backward()
        ta, tb, tp = (torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (a0, b0, p0))
        tout = f(ta, tb, tp, torch.exp, torch.log, torch.relu)
        tout.backward()
        assert math.isclose(out.data, tout.item(), rel_tol=1e-12)
        for v, t in ((a, ta), (b, tb), (p, tp)):
            assert math.isclose(v.grad, t.grad.item(), rel_tol=1e-10, abs_tol=1e-12)
