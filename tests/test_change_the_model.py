"""docs/change-the-model.md, followed: its code blocks applied in this process, and the result checked.

Every code block of that page begins with a comment naming its file and class (or function). A python block
is defined in its module's namespace and its functions set on that module or class; a diff block must apply
to its file as the file stands (its old lines found there exactly once), and the one for GPT.forward is
applied to that method's source and the result becomes the method. monkeypatch undoes it all after each
test; no file is edited. So if the code moves on and the page does not, these tests fail.
"""

import inspect
import os
import random
import re
import textwrap

import pytest
from conftest import ROOT
from test_engine import TextbookOps, assert_grads_close, random_case

from microgpt import autograd, model, ops, scalar_engine
from microgpt.model import GPT, GPTConfig
from microgpt.speed import engine, evaluate, kernels, loops, torch_engine
from microgpt.tool import gradcheck, report

DOC = os.path.join(ROOT, "docs", "change-the-model.md")
MODULES = {"microgpt/ops.py": ops, "microgpt/autograd.py": autograd, "microgpt/scalar_engine.py": scalar_engine,
           "microgpt/speed/loops.py": loops, "microgpt/speed/engine.py": engine,
           "microgpt/speed/torch_engine.py": torch_engine, "microgpt/model.py": model}
# ```python or ```diff, then "# path" or "# path, where" (where: "class X", "X.method", "f()"), then the code
BLOCK = re.compile(r"^```(python|diff)\n# ([^\n,]+)(?:, ([^\n]+))?\n(.*?)^```", re.M | re.S)
MATHS = [loops] + ([kernels] if engine.default_math() is kernels else [])  # the kernels run on CPython only


def blocks(path=DOC):
    """{(file, where): [(kind, code), ...]} in the page's order."""
    with open(path, encoding="utf-8") as f:
        found = {}
        for kind, file, where, code in BLOCK.findall(f.read()):
            found.setdefault((file, where), []).append((kind, code))
    return found


def patched(text, diff):
    """`text` with the diff applied: its ' ' and '-' lines must stand in it exactly once, in a row."""
    lines = [line if line else " " for line in diff.splitlines()]  # an editor may strip a blank line's space
    old = "".join(line[1:] + "\n" for line in lines if line[0] in " -")
    new = "".join(line[1:] + "\n" for line in lines if line[0] in " +")
    assert text.count(old) == 1, "the diff's old lines are not in the file, once:\n" + old
    return text.replace(old, new)


def define(code, module):
    """The functions a python block defines, in a copy of `module`'s namespace (so math, Value, missing,
    Tensor, loops, torch mean what they mean there)."""
    namespace = dict(vars(module))
    exec(compile(textwrap.dedent(code), "<docs/change-the-model.md>", "exec"), namespace)
    return {name: f for name, f in namespace.items()
            if inspect.isfunction(f) and f.__code__.co_filename == "<docs/change-the-model.md>"}


def read_file(file):
    with open(os.path.join(ROOT, file), encoding="utf-8") as f:
        return f.read()


def apply(monkeypatch, file, where=""):
    """The page's blocks for (file, where), applied: functions set on the module or class, diffs checked
    against the file, GPT.forward's diff made the method."""
    module = MODULES.get(file)
    for kind, code in blocks()[(file, where)]:
        if kind == "diff":
            text = patched(read_file(file), code)
            compile(text, file, "exec")  # the changed file is still Python
            if where == "GPT.forward":
                source = patched(inspect.getsource(GPT.forward), code)
                forward = define(source, model)["forward"]
                monkeypatch.setattr(GPT, "forward", forward)
            continue
        target = getattr(module, where[len("class "):]) if where.startswith("class ") else module
        for name, f in define(code, module).items():
            monkeypatch.setattr(target, name, f, raising=False)
    if (file, where) == ("microgpt/ops.py", "class Ops"):  # ops.OPS is read from class Ops at import
        monkeypatch.setattr(ops, "OPS", tuple(name for name, value in vars(ops.Ops).items() if callable(value)))


def interface_and_model(monkeypatch):
    apply(monkeypatch, "microgpt/ops.py", "class Ops")
    apply(monkeypatch, "microgpt/model.py", "GPT.forward")
    apply(monkeypatch, "microgpt/model.py")


def scalar(monkeypatch):
    apply(monkeypatch, "microgpt/autograd.py", "class Value")
    apply(monkeypatch, "microgpt/scalar_engine.py", "class ScalarOps")


def fast(monkeypatch):
    apply(monkeypatch, "microgpt/speed/loops.py")
    apply(monkeypatch, "microgpt/speed/engine.py", "class FastOps")


def tiny():
    config = GPTConfig(vocab_size=7, n_embd=4, n_head=2, block_size=4)
    rng = random.Random(3)
    return GPT(config, rng), gradcheck.tiny_batch(config, rng)


def fails_naming(engine_name, run):
    with pytest.raises(NotImplementedError, match="the %s engine has no op 'gelu'" % engine_name):
        run()


def test_every_engines_op_class_supplies_every_op_of_the_interface():
    classes = {scalar_engine.ScalarOps, engine.FastOps, engine.CachedOps, evaluate.TreeOps, report.Recording,
               torch_engine.TorchOps, TextbookOps}  # torch_engine defines its classes without torch too
    found, todo = set(), [ops.Ops]
    while todo:  # and every other subclass of Ops the package defines
        for cls in todo.pop().__subclasses__():
            todo.append(cls)
            found.add(cls)
    classes |= {cls for cls in found if cls.__module__.startswith("microgpt.")}
    assert {cls: ops.missing_ops(cls) for cls in classes} == {cls: [] for cls in classes}


def test_the_walk_through_one_engine_at_a_time(monkeypatch):
    m, batch = tiny()
    relu_loss = scalar_engine.loss_only(m, batch)
    interface_and_model(monkeypatch)
    for cls in (scalar_engine.ScalarOps, engine.FastOps, engine.CachedOps, torch_engine.TorchOps):
        assert ops.missing_ops(cls) == ["gelu"]
    fails_naming("ScalarOps", lambda: scalar_engine.loss_and_grad(m, batch))

    scalar(monkeypatch)  # the reference: its gradients, from the chain rule, against central differences
    assert autograd.Value(1.0).gelu().data == 0.8413447460685429  # GELU(1) = Phi(1)
    rows = gradcheck.check(m, batch, [("scalar", scalar_engine.loss_and_grad)], 0, None, scalar_engine.loss_only)
    assert gradcheck.failures(rows) == [] and all(checked == total for _, checked, total, _ in rows)
    assert scalar_engine.loss_only(m, batch) != relu_loss  # the model did change
    fails_naming("FastOps", lambda: engine.loss_and_grad(m, batch))

    fast(monkeypatch)
    assert ops.missing_ops(engine.FastOps) == [] and ops.missing_ops(engine.CachedOps) == []
    x = engine.Tensor([0.0, -1.0, 2.0], 1, 3)
    assert engine.FastOps(m).gelu(x).grad_mask is None  # its backward reads every entry, even at gelu(0) = 0
    for seed in range(4):
        m, batch = random_case(seed)
        loss_s, grads_s = scalar_engine.loss_and_grad(m, batch)
        for math in MATHS:
            loss_f, grads_f = gradcheck.fast_engine(math)(m, batch)
            assert loss_f == loss_s  # to the bit: the forward is Value.gelu's arithmetic
            assert_grads_close(grads_f, grads_s)
        assert evaluate.evaluate(m, batch) == engine.loss_only(m, batch) == loss_s
        feed_fast, feed_scalar = engine.cached_decoder(m), scalar_engine.decoder(m)
        assert [feed_fast(t) for t in batch[0][:m.config.block_size]] == \
               [feed_scalar(t) for t in batch[0][:m.config.block_size]]


def test_a_backward_missing_a_term_shows_where_the_doc_says(monkeypatch):
    interface_and_model(monkeypatch)
    scalar(monkeypatch)
    fast(monkeypatch)
    # the doc: with gelu_backward missing its x phi(x) term, the fast columns are off on layer0.mlp_fc1 and
    # everything below it, and right on layer0.mlp_fc2 and lm_head
    monkeypatch.setattr(loops, "gelu_backward", lambda dout, x: [d * 0.5 * (1 + loops.math.erf(xi / 2 ** 0.5))
                                                                  for xi, d in zip(x, dout)])
    m, batch = tiny()
    engines = [("scalar", scalar_engine.loss_and_grad)] + [("fast-%s" % math.__name__, gradcheck.fast_engine(math))
                                                           for math in MATHS]
    rows = {label: worst for label, _, _, worst in gradcheck.check(m, batch, engines, 0, None)}
    over = {label: sorted(name for name, error in worst.items() if error > gradcheck.TOLERANCE)
            for label, worst in rows.items()}
    fast_names = sorted(name for name, _ in engines[1:])
    assert over == {"loss": [], "lm_head": [], "layer0.mlp_fc2": [], "layer0.mlp_fc1": fast_names,
                    "layer0.attn_wq": fast_names, "layer0.attn_wk": fast_names, "layer0.attn_wv": fast_names,
                    "layer0.attn_wo": fast_names, "wpe": fast_names, "wte": fast_names}


def test_the_torch_engine_in_float64_agrees(monkeypatch):
    pytest.importorskip("torch")
    interface_and_model(monkeypatch)
    scalar(monkeypatch)
    m, batch = random_case(5)
    fails_naming("TorchOps", lambda: torch_engine.loss_and_grad(m, batch))
    apply(monkeypatch, "microgpt/speed/torch_engine.py", "class TorchOps")
    loss_t, grads_t = torch_engine.loss_and_grad(m, batch)
    loss_s, grads_s = scalar_engine.loss_and_grad(m, batch)
    assert abs(loss_t - loss_s) <= 1e-12 * abs(loss_s)
    assert_grads_close(grads_t, grads_s)


def test_the_one_file_edition_takes_the_same_change():
    text = read_file("microgpt.py")
    for where in ("class Value", "gpt()"):
        for _, code in blocks()[("microgpt.py", where)]:
            text = patched(text, code)
    compile(text, "microgpt.py", "exec")
    assert ".relu(" not in text and "def relu" not in text and text.count(".gelu()") == 1


def test_the_pages_code_keeps_the_line_length():
    added = [line for found in blocks().values() for kind, code in found for line in code.splitlines()
             if kind == "python" or line.startswith("+")]
    assert max(len(line.lstrip("+")) for line in added) <= 120


def test_the_chinese_page_holds_the_same_code():
    twin = blocks(os.path.join(ROOT, "docs", "change-the-model.zh-CN.md"))
    assert twin == blocks() and len(twin) == 10
