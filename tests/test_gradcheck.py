"""`microgpt gradcheck`: every engine's gradients against central differences, and what it says when one is wrong.

A wrong derivative is planted in one engine at a time (the plain loops, the generated kernels, the tape's
ReLU backward, a Value op); gradcheck must exit 1 naming that engine and the first matrix it spoils, and its
table must put the error on the matrices upstream of the planted op and nowhere else.
"""

import re
import types

import pytest

from microgpt.autograd import Value
from microgpt.speed import engine, kernels, loops
from microgpt.tool import gradcheck
from microgpt.tool.cli import main

SMALL = ["gradcheck", "--n-embd", "8", "--n-head", "2", "--block-size", "6", "--vocab-size", "9", "--entries", "4"]
FAST_LOOPS = "fast" if engine.default_math() is loops else "fast-loops"  # the plain loops' column


def table(out):
    """{row label: {engine: error}} from gradcheck's output."""
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:1] == ["entries"])
    names = lines[head].split()[1:]
    rows = {}
    for line in lines[head + 1:]:
        if re.match(r"(loss|wte|wpe|lm_head|layer\d+\.\w+) ", line):
            rows[line.split()[0]] = dict(zip(names, map(float, line.split()[-len(names):])))
    return rows


def test_passes_on_the_default_model(capsys):
    assert main(["gradcheck"]) == 0
    out, err = capsys.readouterr()
    rows = table(out)
    assert list(rows) == ["loss", "wte", "wpe", "lm_head", "layer0.attn_wq", "layer0.attn_wk", "layer0.attn_wv",
                          "layer0.attn_wo", "layer0.mlp_fc1", "layer0.mlp_fc2"]
    assert {"scalar", "fast"} <= set(rows["wte"])
    assert all(0 <= e <= gradcheck.TOLERANCE for row in rows.values() for e in row.values())
    assert rows["loss"]["fast"] == 0.0  # the fast forward is the scalar one to the bit
    assert "ok: " in out and err == ""


def planted(capsys, spoiled):
    """gradcheck on a small model: exit 1, one line naming the engine; the table's rows."""
    assert main(SMALL) == 1
    out, err = capsys.readouterr()
    assert len(err.splitlines()) == 1 and err.startswith("microgpt: error: gradcheck: ")
    assert "the %s engine's gradient of wte" % spoiled in err, err
    return table(out)


def off(row, names):
    """The engines whose error in `row` is above the tolerance."""
    return {name for name, error in row.items() if error > gradcheck.TOLERANCE} == set(names)


def test_a_wrong_rmsnorm_backward_in_the_plain_loops(capsys, monkeypatch):
    right = loops.rmsnorm_backward
    monkeypatch.setattr(loops, "rmsnorm_backward", lambda *args: [1.01 * d for d in right(*args)])
    rows = planted(capsys, FAST_LOOPS)
    # the gradients that reach the MLP's and lm_head's weights pass no rmsnorm: the first one is below them
    for label in ("loss", "lm_head", "layer0.mlp_fc1", "layer0.mlp_fc2"):
        assert off(rows[label], []), (label, rows[label])
    for label in ("wte", "wpe", "layer0.attn_wq", "layer0.attn_wo"):
        assert off(rows[label], [FAST_LOOPS]), (label, rows[label])


@pytest.mark.skipif(engine.default_math() is not kernels, reason="the generated kernels run on CPython only")
def test_a_wrong_attention_kernel(capsys, monkeypatch):
    right = kernels.attention_backward
    monkeypatch.setattr(kernels, "attention_backward",
                        lambda *args: [[0.99 * g for g in d] for d in right(*args)])
    rows = planted(capsys, "fast")
    for label in ("lm_head", "layer0.attn_wo", "layer0.mlp_fc1", "layer0.mlp_fc2"):  # after attention
        assert off(rows[label], []), (label, rows[label])
    for label in ("wte", "layer0.attn_wq", "layer0.attn_wv"):
        assert off(rows[label], ["fast"]), (label, rows[label])


def test_a_wrong_relu_backward_on_the_tape(capsys, monkeypatch):
    def halved(self, out, x):
        x.add_grad([0.5 * d if xi > 0 else 0.0 for xi, d in zip(x.data, out.grad)])
    monkeypatch.setattr(engine.FastOps, "relu_back", halved)
    rows = planted(capsys, "fast")
    assert off(rows["layer0.mlp_fc2"], []) and off(rows["lm_head"], [])
    assert off(rows["layer0.mlp_fc1"], {"fast", FAST_LOOPS})


def test_a_wrong_local_derivative_of_a_value_op(capsys, monkeypatch):
    monkeypatch.setattr(Value, "relu", lambda self: Value(max(0, self.data), (self,), (1.0,)))  # the kink forgotten
    rows = planted(capsys, "scalar")
    assert off(rows["layer0.mlp_fc1"], ["scalar"]) and off(rows["layer0.mlp_fc2"], [])


def test_a_kink_within_h_is_measured_again_closer():
    # L(w) = |w| at w = 3e-6: a difference with h = 1e-5 straddles the kink and measures (1.3 - 0.7) / 2 = 0.3;
    # with h / 10 it measures the slope, 1. A gradient of 1 passes; one of 0.5 is off at both steps, by
    # |0.5 - 0.3| / 0.5 = 0.4 and |0.5 - 1| / 1 = 0.5, and the smaller counts.
    model = types.SimpleNamespace(params=[3e-6], layout={"w": (0, 1, 1)})
    engines = [("right", lambda m, b: (abs(m.params[0]), [1.0])), ("wrong", lambda m, b: (abs(m.params[0]), [0.5]))]
    rows = gradcheck.check(model, [], engines, 0, None, loss_only=lambda m, b: abs(m.params[0]))
    assert rows[1][3]["right"] < 1e-9 and rows[1][3]["wrong"] == pytest.approx(0.4)
    assert gradcheck.failures(rows) == [("w", "wrong", rows[1][3]["wrong"])]
    assert model.params == [3e-6]  # put back as it was


def test_flags_that_do_not_fit_together_are_a_usage_error(capsys):
    assert main(["gradcheck", "--n-embd", "6", "--n-head", "4"]) == 2
    assert capsys.readouterr().err.startswith("microgpt: error: n_embd (6) must be divisible by n_head (4)")
