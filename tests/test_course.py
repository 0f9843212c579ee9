"""The course (course/): every stage runs and prints what its lesson says, and check.py judges exercises rightly.

check.py is tested from outside, as a learner runs it: every solution passes; plausible mistakes, written as a
learner would, are caught with the case and the element named; a shipped exercise is "not done"; a learner's
exception shows the learner's own traceback. The stages run on a few names with a few steps: their full default
runs (the measured ladder in course/README.md) take minutes.
"""

import contextlib
import hashlib
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT, first_names

COURSE = os.path.join(ROOT, "course")
CHECK = os.path.join(COURSE, "check.py")
EXERCISES = sorted(name[:-3] for name in os.listdir(os.path.join(COURSE, "exercises")) if name.endswith(".py"))
STAGES = sorted(name for name in os.listdir(COURSE) if re.match(r"0\d_\w+\.py$", name))
HELD_OUT = re.compile(r"held-out loss (\d+\.\d{4})")


def run(argv, cwd=None, timeout=120):
    return subprocess.run([sys.executable] + argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout)


@pytest.fixture(scope="module")
def checker():
    """course/check.py, loaded as a module: main(argv) -> (exit status, what it printed)."""
    spec = importlib.util.spec_from_file_location("course_check", CHECK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def main(argv):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = module.main(argv)
        return code, out.getvalue()
    main.module = module
    return main


# --------------------------------------------------------------------------------------------------
# check.py

def test_the_course_has_its_six_stages_and_the_required_exercises():
    assert [s[:3] for s in STAGES] == ["00_", "01_", "02_", "03_", "04_", "05_"]
    required = {"softmax", "cross_entropy", "linear_backward", "rmsnorm_backward", "causal_attention", "adam_step",
                "sample_next"}
    assert required <= set(EXERCISES)
    assert EXERCISES == sorted(name[:-3] for name in os.listdir(os.path.join(COURSE, "solutions"))
                               if name.endswith(".py"))


@pytest.mark.parametrize("name", EXERCISES)
def test_every_solution_passes(name):
    result = run([CHECK, name, "--file", os.path.join(COURSE, "solutions", name + ".py")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok"), result.stdout


@pytest.mark.parametrize("name", EXERCISES)
def test_an_exercise_as_shipped_is_not_done(checker, name):
    code, out = checker([name])
    assert code == 1
    assert out.startswith("%s: not done yet" % name) and "NotImplementedError" in out, out


def test_the_listing_shows_every_exercise_and_whether_it_passes(tmp_path):
    result = run([CHECK])
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:-1]}
    assert sorted(rows) == EXERCISES
    assert all("not done" in row for row in rows.values()), result.stdout
    # a copy of the course with one exercise solved lists it as ok
    copy = tmp_path / "course"
    shutil.copytree(COURSE, str(copy), ignore=shutil.ignore_patterns("__pycache__", "*.txt"))
    shutil.copy(str(copy / "solutions" / "softmax.py"), str(copy / "exercises" / "softmax.py"))
    rows = {line.split()[0]: line for line in run([str(copy / "check.py")]).stdout.splitlines()[1:-1]}
    assert rows["softmax"].split()[1] == "ok" and "not done" in rows["adam_step"]


def test_hints_form_a_ladder_and_the_solution_is_shown(checker):
    hints = checker.module.EXERCISES["cross_entropy"].hints
    assert len(hints) >= 3
    result = run([CHECK, "cross_entropy", "--hint", "1"])
    assert result.returncode == 0 and result.stdout.strip() == "hint 1 of %d for cross_entropy: %s" % (len(hints),
                                                                                                     hints[0])
    last = run([CHECK, "cross_entropy", "--hint", str(len(hints))]).stdout
    assert "dlogits[i] = softmax(logits)[i] - (1 if i == target else 0)" in last  # the key equation comes last
    result = run([CHECK, "cross_entropy", "--hint", str(len(hints) + 1)])
    assert result.returncode == 2 and "hints 1 to %d" % len(hints) in result.stderr
    with open(os.path.join(COURSE, "solutions", "cross_entropy.py"), encoding="utf-8") as f:
        assert run([CHECK, "cross_entropy", "--solution"]).stdout == f.read()
    result = run([CHECK, "no_such_exercise"])
    assert result.returncode == 2 and "no exercise 'no_such_exercise'" in result.stderr


def test_an_exception_in_the_learners_code_shows_the_learners_traceback(tmp_path):
    mine = tmp_path / "mine.py"
    mine.write_text(textwrap.dedent("""\
        import math


        def helper(logits):
            return [math.exp(x) for x in logits] / 0


        def softmax(logits):
            return helper(logits)
        """))
    result = run([CHECK, "softmax", "--file", str(mine)])
    assert result.returncode == 1 and result.stderr == ""
    out = result.stdout
    assert out.startswith("softmax: your code raised an exception on case 1 of ")
    assert "Traceback (most recent call last; the lines of your file only):" in out
    assert 'mine.py", line 9, in softmax' in out and 'mine.py", line 5, in helper' in out
    assert "TypeError: unsupported operand" in out and "input: logits = [1.0, 2.0, 3.0]" in out
    assert "check.py" not in out  # none of the checker's own frames
    mine.write_text("def softmax(logits)\n    return logits\n")  # a syntax error: the file cannot be loaded
    result = run([CHECK, "softmax", "--file", str(mine)])
    assert result.returncode == 1 and "SyntaxError" in result.stdout and "check.py" not in result.stdout
    mine.write_text("import sys\nsys.exit(0)\n")  # the learner's file may not end the checker, even with status 0
    result = run([CHECK, "softmax", "--file", str(mine)])
    assert result.returncode == 1 and "SystemExit: 0" in result.stdout
    mine.write_text("def softmax(logits):\n    return [1.0 / len(logits)] * len(logits)\n")
    result = run([CHECK, "softmax", "--file", str(mine)])
    assert result.returncode == 1 and "probs[0]: expected 0.09003057317, got 0.3333333333" in result.stdout


SOFTMAX = """\
    import math


    def softmax(logits):
        m = {shift}
        exps = [math.exp(x - m) for x in logits]
        return [e / {total} for e in exps]
    """
CROSS_ENTROPY = """\
    import math


    def cross_entropy(logits, target):
        m = max(logits)
        exps = [math.exp(x - m) for x in logits]
        s = sum(exps)
        probs = [e / s for e in exps]
        return {loss}, [{grad} for i, p in enumerate(probs)]
    """
SAMPLE_NEXT = """\
    import math


    def sample_next(logits, temperature, u):
        scaled = [{scaled} for x in logits]
        m = max(scaled)
        exps = [math.exp(x - m) for x in scaled]
        running = 0.0
        for i, e in enumerate(exps):
            running += e / sum(exps)
            if running {compare} u:
                return i
        return len(exps) - 1
    """
LINEAR_BACKWARD = """\
    def linear_backward(x, w, dout):
        dw = {dw}
        dx = {dx}
        return dx, dw
    """
BACKPROP = """\
    def backprop(children, local_grads, out):
        order, seen = [], set()

        def visit(node):
            if node not in seen:
                seen.add(node)
                for child in children[node]:
                    visit(child)
                order.append(node)
        visit(out)
        order = {order}
        grads = [0.0] * len(children)
        grads[out] = {start}
        for node in reversed(order):
            for child, local in zip(children[node], local_grads[node]):
                grads[child] {accumulate} local * grads[node]
        return grads
    """
RMSNORM_BACKWARD = """\
    def rmsnorm_backward(x, dout, eps=1e-5):
        n = len(x)
        r = (sum(v * v for v in x) / n + {eps}) ** -0.5
        s = sum(d * v for d, v in zip(dout, x))
        return [r * d - {second} for d, v in zip(dout, x)]
    """
CAUSAL_ATTENTION = """\
    import math


    def causal_attention(q, k, v):
        out = []
        for t in range(len(q)):
            seen = range({seen})
            scores = [sum(a * b for a, b in zip(q[t], k[s])) {scale} for s in seen]
            m = {shift}
            weights = [math.exp(e - m) for e in scores]
            weights = [e / sum(weights) for e in weights]
            out.append([sum(a * v[s][j] for a, s in zip(weights, seen)) for j in range(len(v[0]))])
        return out
    """
ADAM_STEP = """\
    import math


    def adam_step(p, g, m, v, t, lr, beta1=0.85, beta2=0.99, eps=1e-8):
        m1 = beta1 * m + (1 - beta1) * g
        v1 = beta2 * v + (1 - beta2) * {g2}
        m_hat, v_hat = m1 / (1 - beta1 ** ({t})), v1 / (1 - beta2 ** ({t}))
        return p - lr * m_hat / {denominator}, {returned}
    """
RIGHT = {"softmax": dict(shift="max(logits)", total="sum(exps)"),
         "cross_entropy": dict(loss="m + math.log(s) - logits[target]", grad="p - (i == target)"),
         "sample_next": dict(scaled="x / temperature", compare=">"),
         "linear_backward": dict(dw="[[d * xj for xj in x] for d in dout]",
                                 dx="[sum(w[i][j] * dout[i] for i in range(len(w))) for j in range(len(x))]"),
         "backprop": dict(order="order", start="1.0", accumulate="+="),
         "rmsnorm_backward": dict(eps="eps", second="r ** 3 * v * s / n"),
         "causal_attention": dict(seen="t + 1", scale="/ math.sqrt(len(q[0]))", shift="max(scores)"),
         "adam_step": dict(g2="g * g", t="t", denominator="(math.sqrt(v_hat) + eps)", returned="m1, v1")}
TEMPLATES = {"softmax": SOFTMAX, "cross_entropy": CROSS_ENTROPY, "sample_next": SAMPLE_NEXT,
             "linear_backward": LINEAR_BACKWARD, "backprop": BACKPROP, "rmsnorm_backward": RMSNORM_BACKWARD,
             "causal_attention": CAUSAL_ATTENTION, "adam_step": ADAM_STEP}
# (exercise, the mistake: what changes in the right version above, what the checker must say: the case and the
# element, or the case and the exception)
MISTAKES = [
    ("softmax", dict(shift="0.0"), "raised an exception on case 4 of 15 (large logits", "OverflowError"),
    ("softmax", dict(shift="min(logits)"), "raised an exception on case 6 of 15 (a wide range", "OverflowError"),
    ("softmax", dict(total="sum(logits)"), "wrong on case 1 of 15", "probs[0]: expected 0.09003057317, got"),
    ("softmax", dict(total="1.0"), "wrong on case 1 of 15", "probs[0]: expected"),
    ("cross_entropy", dict(grad="p"), "wrong on case 1 of 13", "dlogits[2]: expected -0.334759, got 0.66524"),
    ("cross_entropy", dict(grad="(i == target) - p"), "wrong on case 1 of 13", "dlogits[0]: expected"),
    ("cross_entropy", dict(loss="-math.log(probs[target])"), "raised an exception on case 4 of 13 (large logits",
     "ValueError: math domain error"),
    ("cross_entropy", dict(loss="math.log(s) - logits[target]"), "wrong on case 1 of 13", "loss: expected"),
    ("cross_entropy", dict(grad="p - (i == target + 1)"), "wrong on case 1 of 13", "dlogits[2]: expected"),
    ("sample_next", dict(scaled="x"), "wrong on case 6 of 17 (temperature 0.5", "index: expected 2, got 1"),
    ("sample_next", dict(scaled="x * temperature"), "wrong on case 6 of 17", "index: expected 2, got 1"),
    ("sample_next", dict(compare=">="), "wrong on case 2 of 17 (u on a boundary", "index: expected 1, got 0"),
    ("linear_backward", dict(dw="[[dout[j] * x[i] for j in range(len(x))] for i in range(len(dout))]"),
     "wrong on case 1 of 11", "dw[0][1]: expected 2, got -1.0"),
    ("linear_backward", dict(dx="[sum(wij * d for wij, d in zip(row, dout)) for row in w]"),
     "wrong on case 1 of 11", "dx[0]: expected -2, got -1.0"),
    ("linear_backward", dict(dx="[w[0][j] * dout[0] for j in range(len(x))]"), "wrong on case 1 of 11",
     "dx[0]: expected -2, got 1.0"),
    ("backprop", dict(order="sorted(order)"), "wrong on case 4 of 10 (nodes not numbered in graph order",
     "grads[1]: expected 3.5, got 0.0"),
    ("backprop", dict(accumulate="="), "wrong on case 2 of 10 (a diamond", "grads[0]: expected 5.0, got 2.0"),
    ("backprop", dict(start="0.0"), "wrong on case 1 of 10", "grads[0]: expected 6.0, got 0.0"),
    ("rmsnorm_backward", dict(second="0.0"), "wrong on case 1 of 11", "dx[0]: expected 0.4298447, got 0.46290"),
    ("rmsnorm_backward", dict(second="r ** 3 * v * s"), "wrong on case 1 of 11", "dx[0]: expected 0.4298447"),
    ("rmsnorm_backward", dict(eps="1e-5"), "wrong on case 5 of 11 (eps = 0.5", "dx[0]: expected 0.8164966"),
    ("rmsnorm_backward", dict(second="r * r * v * s / n"), "wrong on case 1 of 11", "dx[0]: expected"),
    ("causal_attention", dict(seen="len(q)"), "wrong on case 2 of 12 (two positions", "out[0][0]: expected 1.0"),
    ("causal_attention", dict(seen="t"), "raised an exception on case 1 of 12", "ValueError"),
    ("causal_attention", dict(scale=""), "wrong on case 4 of 12 (queries 4 wide", "out[1][0]: expected"),
    ("causal_attention", dict(scale="/ len(q[0])"), "wrong on case 4 of 12", "out[1][0]: expected"),
    ("causal_attention", dict(shift="0.0"), "raised an exception on case 5 of 12 (large scores", "OverflowError"),
    ("adam_step", dict(t="t + 1"), "wrong on case 1 of 13 (the first step", "p: expected 0.9900000002, got"),
    ("adam_step", dict(t="t - 1"), "raised an exception on case 1 of 13", "ZeroDivisionError"),
    ("adam_step", dict(denominator="math.sqrt(v_hat + eps)"), "wrong on case 3 of 13 (a tiny gradient",
     "p: expected"),
    ("adam_step", dict(returned="m, v"), "wrong on case 1 of 13", "m: expected 0.075, got 0.0"),
    ("adam_step", dict(g2="g"), "wrong on case 1 of 13", "p: expected"),
]
OTHER_MISTAKES = [  # whole files, for the exercises whose right version is too short to template
    ("encode", "def encode(text, chars):\n    return [chars.index(c) for c in text]\n", "wrong on case 1 of 5",
     "tokens: expected a list of 6, got a list of 4"),
    ("encode", "def encode(text, chars):\n    return [0] + [chars.index(c) for c in text] + [0]\n",
     "wrong on case 1 of 5", "tokens[0]: expected 26, got 0"),
    ("encode", "def encode(text, chars):\n    b = len(chars)\n"
               "    return [b] + [chars.index(c) + 1 for c in text] + [b]\n",
     "wrong on case 1 of 5", "tokens[1]: expected 4, got 5"),
    ("decode", "def decode(tokens, chars):\n    return ''.join(chars[t] for t in tokens[1:-1])\n",
     "raised an exception on case 3 of 6 (a BOS in the middle", "IndexError"),
    ("decode", "def decode(tokens, chars):\n    return ''.join(chars[t - 1] for t in tokens if t != len(chars))\n",
     "wrong on case 1 of 6", "text: expected 'emma', got 'dllz'"),
    ("bigram_probs", "def bigram_probs(sequences, vocab_size, smoothing=1.0):\n"
                     "    c = [[0] * vocab_size for _ in range(vocab_size)]\n"
                     "    for s in sequences:\n        for a, b in zip(s, s[1:]):\n            c[a][b] += 1\n"
                     "    total = sum(map(sum, c)) + smoothing * vocab_size * vocab_size\n"
                     "    return [[(x + smoothing) / total for x in row] for row in c]\n",
     "wrong on case 1 of 10", "probs[0][0]: expected 0.25, got 0.0833"),
    ("bigram_probs", "def bigram_probs(sequences, vocab_size, smoothing=1.0):\n"
                     "    c = [[0] * vocab_size for _ in range(vocab_size)]\n"
                     "    for s in sequences:\n        for a, b in zip(s, s[1:]):\n            c[b][a] += 1\n"
                     "    return [[(x + smoothing) / (sum(r) + smoothing * vocab_size) for x in r] for r in c]\n",
     "wrong on case 1 of 10", "probs[0][1]: expected 0.5, got 0.25"),
    ("softmax_backward", "def softmax_backward(probs, dprobs):\n    return [p * d for p, d in zip(probs, dprobs)]\n",
     "wrong on case 1 of 10", "dlogits[0]: expected 0.25, got 0.5"),
    ("softmax_backward", "def softmax_backward(probs, dprobs):\n    s = sum(dprobs)\n"
                         "    return [p * (d - s) for p, d in zip(probs, dprobs)]\n",
     "wrong on case 1 of 10", "dlogits[0]: expected 0.25, got 0.0"),
]


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_the_templates_right_versions_pass(checker, tmp_path, name):
    mine = tmp_path / ("right_" + name + ".py")
    mine.write_text(textwrap.dedent(TEMPLATES[name]).format(**RIGHT[name]))
    code, out = checker([name, "--file", str(mine)])
    assert code == 0 and out.startswith("ok"), out


@pytest.mark.parametrize("name, change, case, element", MISTAKES + [(n, None, c, e) for n, _, c, e in OTHER_MISTAKES],
                         ids=["%s-%d" % (m[0], i) for i, m in enumerate(MISTAKES + OTHER_MISTAKES)])
def test_a_plausible_mistake_is_caught(checker, tmp_path, name, change, case, element):
    if change is None:
        source = next(s for n, s, c, e in OTHER_MISTAKES if (n, c, e) == (name, case, element))
    else:
        source = textwrap.dedent(TEMPLATES[name]).format(**dict(RIGHT[name], **change))
    mine = tmp_path / "mistake.py"
    mine.write_text(source)
    code, out = checker([name, "--file", str(mine)])
    assert code == 1, out
    assert out.startswith(name + ": ") and case in out and element in out, out
    assert "\n  hint: " in out, out
    if "exception" in case:
        assert 'mistake.py", line ' in out and "check.py" not in out, out


# --------------------------------------------------------------------------------------------------
# the stages

def run_stage(stage, folder, *argv):
    result = run([os.path.join(COURSE, stage)] + list(argv), cwd=str(folder), timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert HELD_OUT.fullmatch(lines[-1]), lines[-3:]  # every stage ends with its held-out loss
    return lines


def test_stages_open_as_notebooks():
    for stage in STAGES:
        with open(os.path.join(COURSE, stage), encoding="utf-8") as f:
            text = f.read()
        assert text.startswith("# %% [markdown]\n# # Stage " + stage[:2] + ":"), stage
        assert text.count("\n# %%\n") >= 4, stage  # code cells, in jupytext's percent format


def test_the_stages_import_their_plumbing_and_find_it_as_a_notebook_does(tmp_path):
    # The data, the split, the tokenizer, the flags and the closing loops are written once, in names.py.
    for stage in STAGES:
        with open(os.path.join(COURSE, stage), encoding="utf-8") as f:
            text = f.read()
        assert "\nimport names  #" in text, stage
        for plumbing in ("NAMES_SHA256", "def read_docs", "random.shuffle", "def frame", "def loss_on"):
            assert plumbing not in text or (stage == STAGES[0] and plumbing == "def loss_on"), (stage, plumbing)
        assert ("inference (new" in text) == (stage == STAGES[0])  # stage 00 writes out the loop names.py runs
    # A notebook runs the cells with course/ as the current folder, not on sys.path as a script's own folder is.
    data = first_names(tmp_path, 300)
    code = "import sys; sys.argv = ['00_counting.py', '--data', %r]; exec(open('00_counting.py').read())" % data
    notebook = run(["-c", code], cwd=COURSE)
    assert notebook.returncode == 0, notebook.stderr
    assert notebook.stdout.splitlines() == run_stage(STAGES[0], tmp_path, "--data", data)
    assert notebook.stdout.splitlines()[:2] == ["num docs: 300", "vocab size: 27"]


def test_stage_00_lands_on_the_bigram_loss(tmp_path, names_path):
    lines = run_stage(STAGES[0], tmp_path, "--data", names_path)
    loss = float(HELD_OUT.fullmatch(lines[-1]).group(1))
    assert abs(loss - 2.45) <= 0.05
    assert lines[-1] == "held-out loss 2.4580"  # the package's bigram baseline on the same split (docs/report.md)
    assert lines[:2] == ["num docs: 32033", "vocab size: 27"]
    assert sum(line.startswith("sample ") for line in lines) == 20


def test_a_stage_without_input_txt_offline_says_so_in_one_line(tmp_path):
    # conftest points MICROGPT_NAMES_URL at a closed port: the download fails at once
    result = run([os.path.join(COURSE, STAGES[0])], cwd=str(tmp_path))
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: no input.txt here"), result.stderr
    assert os.listdir(str(tmp_path)) == []


def test_a_stage_downloads_the_names_to_input_txt(tmp_path, names_path, http_server, monkeypatch):
    with open(names_path, "rb") as f:
        names = f.read()
    server = http_server({"/names.txt": names, "/other.txt": b"emma\nolivia\n"})
    monkeypatch.setenv("MICROGPT_NAMES_URL", server.url("/other.txt"))
    result = run([os.path.join(COURSE, STAGES[0])], cwd=str(tmp_path))
    assert result.returncode == 1 and "is not the names list" in result.stderr and os.listdir(str(tmp_path)) == []
    monkeypatch.setenv("MICROGPT_NAMES_URL", server.url("/names.txt"))
    lines = run_stage(STAGES[0], tmp_path)
    with open(str(tmp_path / "input.txt"), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == hashlib.sha256(names).hexdigest()
    assert lines[-1] == "held-out loss 2.4580"


def test_stage_01_checks_its_gradient_and_stage_02_gets_the_same_numbers(tmp_path):
    data = first_names(tmp_path, 300)
    one = run_stage(STAGES[1], tmp_path, "--data", data, "--steps", "3")
    two = run_stage(STAGES[2], tmp_path, "--data", data, "--steps", "3")
    assert "gradient check ok: every relative error below 1e-05" in one
    errors = [float(line.split()[-1]) for line in one if "largest relative error" in line]
    assert len(errors) == 3 and max(errors) < 1e-5
    check = [line for line in two if line.startswith("autograd against stage 01")]
    assert len(check) == 1 and "autograd check ok" in " ".join(two)
    assert float(check[0].split()[-1]) <= 1e-12  # the largest difference from the hand-written gradient
    # apart from their checks, the two stages print the same lines: the same losses and the same names
    own = ("gradient check", "  ", "autograd")
    assert [x for x in one if not x.startswith(own)] == [x for x in two if not x.startswith(own)]


def test_stages_03_to_05_train_the_microgpt_way(tmp_path):
    data = first_names(tmp_path, 300)
    outputs = {stage: run_stage(stage, tmp_path, "--data", data, "--steps", "2") for stage in STAGES[3:]}
    for stage, lines in outputs.items():
        assert re.fullmatch(r"num params: \d+", lines[2]), stage
        assert [line[:18] for line in lines[3:5]] == ["step    1 /    2 |", "step    2 /    2 |"], stage
        assert lines[5] == "--- inference (new, hallucinated names) ---"
    four, five = outputs[STAGES[4]], outputs[STAGES[5]]
    assert four[:4] == five[:4]  # the same model and the same first loss: 05 changes only the optimizer
    assert four[4] != five[4]
    assert outputs[STAGES[3]][2] != four[2]  # 04 adds the MLP block


def test_stage_05_prints_what_microgpt_py_prints(tmp_path):
    # The same run, line for line, but for 05's closing held-out loss. The book has no --steps (it is the
    # original's script), so both are cut to the same 60 steps: the book by its one num_steps line, 05 by its flag.
    # (The whole 1000 steps, the book against the package, is tests/test_one_file.py's.)
    with open(os.path.join(ROOT, "microgpt.py"), encoding="utf-8") as f:
        book = f.read()
    assert book.count("\nnum_steps = 1000\n") == 1
    with open(str(tmp_path / "book.py"), "w", encoding="utf-8") as f:
        f.write(book.replace("\nnum_steps = 1000\n", "\nnum_steps = 60\n"))
    first_names(tmp_path, 600, "input.txt")  # both read input.txt; 05's held-out tail is then 60 names
    result = run([str(tmp_path / "book.py")], cwd=str(tmp_path), timeout=600)
    assert result.returncode == 0, result.stderr
    stage = run_stage(STAGES[5], tmp_path, "--steps", "60")
    assert len(stage) == 3 + 60 + 1 + 20 + 1
    assert stage[:-1] == result.stdout.splitlines()


@pytest.mark.parametrize("tool, argv", [("ruff", ["check", "--no-cache", "course", "tests/test_course.py"]),
                                        ("vermin", ["-t=3.7-", "--no-tips", "--violations", "course"])])
def test_the_course_is_lint_clean_and_runs_on_python_3_7(tool, argv):
    executable = shutil.which(tool)
    if executable is None:
        pytest.skip("%s is not installed (pip install %s)" % (tool, tool))
    result = subprocess.run([executable] + argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, timeout=120)
    assert result.returncode == 0, result.stdout
