"""The optimizers against the formulas written out plainly, and against torch.optim where available."""

import math
import random

import pytest

from microgpt.optim import SGD, Adam, make_optimizer


def textbook_adam(params, grads_per_step, lrs, b1=0.85, b2=0.99, eps=1e-8):
    # Adam as Kingma & Ba write it, one parameter at a time
    params, m, v = list(params), [0.0] * len(params), [0.0] * len(params)
    for t, (grads, lr) in enumerate(zip(grads_per_step, lrs), 1):
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g ** 2
            m_hat, v_hat = m[i] / (1 - b1 ** t), v[i] / (1 - b2 ** t)
            params[i] -= lr * m_hat / (math.sqrt(v_hat) + eps)
    return params, m, v


def random_run(seed, n=50, steps=6):
    rng = random.Random(seed)
    params = [rng.gauss(0, 0.1) for _ in range(n)]
    # gradients of every scale, and exact zeros (an unused embedding row gets none)
    grads = [[rng.choice([0.0, rng.gauss(0, 10 ** rng.randint(-6, 1))]) for _ in range(n)] for _ in range(steps)]
    lrs = [0.01 * (1 - s / steps) for s in range(steps)]
    return params, grads, lrs


@pytest.mark.parametrize("seed", range(4))
def test_adam_is_the_textbook_formula(seed):
    params, grads, lrs = random_run(seed)
    expected, m, v = textbook_adam(params, grads, lrs)
    adam, got = Adam(len(params)), list(params)
    for g, lr in zip(grads, lrs):
        adam.step(got, g, lr)
    assert adam.t == len(grads)
    for a, b in zip(got + adam.m + adam.v, expected + m + v):
        assert abs(a - b) <= 1e-13 * abs(b) + 1e-18
    assert got != params  # it moved


def test_adam_state_round_trip_continues_identically():
    params, grads, lrs = random_run(7)
    straight, p1 = Adam(len(params)), list(params)
    for g, lr in zip(grads, lrs):
        straight.step(p1, g, lr)
    first, p2 = Adam(len(params)), list(params)
    for g, lr in zip(grads[:3], lrs[:3]):
        first.step(p2, g, lr)
    second = make_optimizer("adam", len(params))
    second.load_state(first.state())
    for g, lr in zip(grads[3:], lrs[3:]):
        second.step(p2, g, lr)
    assert p1 == p2 and straight.state() == second.state()


def test_sgd_steps_against_the_gradient():
    params, grads, lrs = random_run(3, steps=1)
    got = list(params)
    SGD().step(got, grads[0], 0.5)
    assert got == [p - 0.5 * g for p, g in zip(params, grads[0])]


def test_adam_matches_torch():
    torch = pytest.importorskip("torch", reason="torch is optional: the cross-check runs where it is installed")
    params, grads, lrs = random_run(11)
    p = torch.tensor(params, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=lrs[0], betas=(0.85, 0.99), eps=1e-8)
    adam, got = Adam(len(params)), list(params)
    for g, lr in zip(grads, lrs):
        for group in opt.param_groups:
            group["lr"] = lr
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        adam.step(got, g, lr)
    for a, b in zip(got, p.detach().tolist()):
        assert abs(a - b) <= 1e-12 * abs(b) + 1e-15
