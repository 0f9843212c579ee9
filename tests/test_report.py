"""The report, read back with html.parser: every figure is there, and each is fed by the run's real
numbers, checked against references of their own: metrics.jsonl for the curves, the engine's generated
attention kernels for the heatmaps, a covariance written out here (and PyTorch's eigh, if present) for
the PCA, the engine's loss for the per-character surprise, the scalar engine for the top-5, the lines
training printed for the samples, and the command-line parser for the command that repeats the run."""

import collections
import html.parser
import io
import json
import math
import os
import random
import shlex

import pytest
from conftest import first_names

from microgpt import data, scalar_engine, speed
from microgpt.config import TrainConfig
from microgpt.speed import engine, kernels
from microgpt.tool import checkpoint, cli, console, files, report, runs, training
from microgpt.tool.cli import main

FIGURES = ["loss", "samples", "attention", "embeddings", "surprise", "run"]


class Node:
    def __init__(self, tag, attrs, parent=None):
        self.tag, self.attrs, self.parent, self.children, self.text = tag, dict(attrs), parent, [], ""

    def all(self, tag=None, **where):
        """Every element below this one with that tag (any, if None) and those attributes (class_ = class)."""
        found = []
        for child in self.children:
            if (tag is None or child.tag == tag) and all(
                    where[k] in child.attrs.get(k.rstrip("_"), "").split() if k == "class_" else
                    child.attrs.get(k) == v for k, v in where.items()):
                found.append(child)
            found += child.all(tag, **where)
        return found

    def one(self, tag=None, **where):
        found = self.all(tag, **where)
        assert len(found) == 1, (tag, where, len(found))
        return found[0]

    def words(self):
        return self.text + "".join(c.words() for c in self.children)


class Tree(html.parser.HTMLParser):
    VOID = {"meta", "link", "br", "img", "input", "hr"}

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.root = self.node = Node("document", {})
        self.feed(text)
        self.close()
        assert self.node is self.root, "unclosed <%s>" % self.node.tag

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.node)
        self.node.children.append(node)
        if tag not in self.VOID:
            self.node = node

    def handle_startendtag(self, tag, attrs):
        self.node.children.append(Node(tag, attrs, self.node))

    def handle_endtag(self, tag):
        assert self.node.tag == tag, "</%s> closes <%s>" % (tag, self.node.tag)
        self.node = self.node.parent

    def handle_data(self, text):
        self.node.text += text


def parse(path):
    with open(path, encoding="utf-8") as f:
        return Tree(f.read()).root


def floats(text):
    return [float(x) for x in text.split()]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return first_names(tmp_path_factory.mktemp("report"), 400, "names400.txt")


@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory):
    """A short run kept in a directory: (what train returned, its stdout, its run directory)."""
    run_dir = str(tmp_path_factory.mktemp("run") / "run")
    cfg = TrainConfig(data=tiny, steps=40, batch_size=2, eval_every=10, eval_docs=12, save_every=15, num_samples=8,
                      quiet=True, seed=3, lr=0.02)
    out, err = io.StringIO(), io.StringIO()
    result = training.train(cfg, out=out, err=err, run_dir=run_dir)
    assert err.getvalue() == ""
    return result, out.getvalue().splitlines(), run_dir


@pytest.fixture(scope="module")
def page(trained):
    return parse(os.path.join(trained[2], report.REPORT))


def test_train_writes_the_report_and_names_it_last(trained, page):
    result, lines, run_dir = trained
    assert lines[-1] == "report: %s" % os.path.join(run_dir, "report.html")
    assert [s.attrs["id"] for s in page.all("section", class_="figure")] == FIGURES
    for section in page.all("section", class_="figure"):
        assert len(section.one("p", class_="caption").words()) > 40
    assert page.one("meta", charset="utf-8")
    assert not page.all("meta", **{"http-equiv": "refresh"})  # the run has ended: no more reloading


def test_the_page_asks_for_nothing_outside_itself(trained):
    with open(os.path.join(trained[2], report.REPORT), encoding="utf-8") as f:
        text = f.read()
    tree = Tree(text).root
    assert not tree.all("link") and not tree.all("img") and not tree.all("iframe")
    assert not [n for n in tree.all() if "src" in n.attrs or "href" in n.attrs and not n.attrs["href"][:1] == "#"]
    # the one URL is SVG's namespace name, which is never fetched
    assert set(part.split('"')[0] for part in text.split("http")[1:]) == {"://www.w3.org/2000/svg"}
    assert "@import" not in text and "url(" not in text


def test_the_loss_curves_are_metrics_jsonl(trained, page):
    run_dir = trained[2]
    with open(os.path.join(run_dir, runs.METRICS)) as f:
        records = [json.loads(line) for line in f]
    steps = [(r["step"], r["loss"]) for r in records if "loss" in r]
    held = [(r["step"], r["val_loss"]) for r in records if "val_loss" in r]
    lrs = [(r["step"], r["lr"]) for r in records if "lr" in r]
    assert len(steps) == 40 and [s for s, _ in held] == [10, 20, 30, 40]
    loss_chart = page.one("svg", **{"data-figure": "loss"})
    lr_chart = page.one("svg", **{"data-figure": "lr"})
    window = max(1, len(steps) // 20)
    smoothed = [sum(v for _, v in steps[max(0, i - window + 1):i + 1]) / len(steps[max(0, i - window + 1):i + 1])
                for i in range(len(steps))]
    for chart, name, expected in ((loss_chart, "training", steps), (loss_chart, "held-out", held),
                                  (lr_chart, "lr", lrs)):
        line = chart.one("polyline", **{"data-name": name})
        assert list(zip(floats(line.attrs["data-x"]), floats(line.attrs["data-y"]))) == expected
        # and the drawn points are those numbers through the chart's scales (to the 0.1 px they are written in)
        lo, hi, start, end = floats(chart.attrs["data-sx"])
        ylo, yhi, ystart, yend = floats(chart.attrs["data-sy"])
        points = [tuple(map(float, p.split(","))) for p in line.attrs["points"].split()]
        for (x, y), (step, value) in zip(points, expected):
            assert abs(lo + (x - start) * (hi - lo) / (end - start) - step) <= 0.06 * (hi - lo) / abs(end - start)
            assert abs(ylo + (y - ystart) * (yhi - ylo) / (yend - ystart) - value) <= \
                0.06 * (yhi - ylo) / abs(yend - ystart)
    mean = loss_chart.one("polyline", **{"data-name": "smoothed"})
    assert all(abs(a - b) < 1e-12 for a, b in zip(floats(mean.attrs["data-y"]), smoothed))


def test_the_bigram_baseline_and_the_uniform_guess(trained, page):
    result, _, run_dir = trained
    ck = checkpoint.load(os.path.join(run_dir, runs.CHECKPOINT))
    dataset = checkpoint.training_data(ck)
    tok, V = dataset.tokenizer, dataset.tokenizer.vocab_size
    pairs = collections.Counter()
    for doc in dataset.train_docs:
        ids = tok.frame(doc)
        for a, b in zip(ids, ids[1:]):
            pairs[a, b] += 1
    nats = []
    for doc in dataset.val_docs:
        ids = tok.frame(doc)[:17]
        for a, b in zip(ids, ids[1:]):
            total = sum(pairs[a, c] for c in range(V))
            nats.append(-math.log((pairs[a, b] + 1) / (total + V)))
    expected = sum(nats) / len(nats)
    assert abs(report.bigram_loss(dataset, 16) - expected) < 1e-12
    legend = page.one("section", id="loss").words()
    assert "bigram counts, held-out %.4f" % expected in legend
    assert "uniform guess, ln %d = %.4f" % (V, math.log(V)) in legend


class KernelAttention(engine.FastOps):
    """The fast engine as training runs it (the generated kernels on CPython), keeping their weights."""

    def __init__(self, model):
        super().__init__(model, grad=False)
        self.weights_seen = []

    def attention(self, q, k, v, n_head):
        out, atts = engine.default_math().attention_forward(q.data, k.data, v.data, q.cols, n_head)
        self.weights_seen.append(atts)
        return engine.Tensor(out, q.rows, q.cols)


def test_the_heatmaps_are_the_engines_attention_weights(trained, page):
    result, _, _ = trained
    model, tok = result["model"], result["tokenizer"]
    maps = page.all("svg", class_="heatmap")
    assert len(maps) == report.ATTENTION * model.config.n_head * model.config.n_layer
    for heatmap in maps:
        doc, layer, head = heatmap.attrs["data-doc"], int(heatmap.attrs["data-layer"]), int(heatmap.attrs["data-head"])
        tokens = tok.frame(doc)
        ops = KernelAttention(model)
        model.forward(ops, [tokens[:-1]])
        atts = ops.weights_seen[layer]  # kernels: atts[t][s] = (head 0, head 1, ...); plain loops: atts[t][h][s]
        rows = collections.defaultdict(dict)
        for cell in heatmap.all("rect"):
            rows[int(cell.attrs["data-t"])][int(cell.attrs["data-s"])] = float(cell.attrs["data-w"])
        T = len(tokens) - 1
        assert sorted(rows) == list(range(T))
        for t, row in rows.items():
            assert sorted(row) == list(range(t + 1))  # causal: nothing to the right of the diagonal
            assert abs(sum(row.values()) - 1) < 1e-12
            for s, w in row.items():
                assert w == (atts[t][s][head] if engine.default_math() is kernels else atts[t][head][s])
        labels = [n.words() for n in heatmap.all("text", class_="axis")]
        assert labels[::2] == [report.BOS_LABEL] + list(doc)  # the characters on both axes


def test_the_embedding_axes_are_orthonormal_principal_directions(trained, page):
    model = trained[0]["model"]
    offset, V, C = model.layout["wte"]
    rows = [model.params[offset + r * C:offset + (r + 1) * C] for r in range(V)]
    mean = [sum(col) / V for col in zip(*rows)]
    X = [[x - m for x, m in zip(row, mean)] for row in rows]
    cov = [[sum(r[i] * r[j] for r in X) / V for j in range(C)] for i in range(C)]
    scatter = page.one("svg", class_="scatter")
    a1, a2 = floats(scatter.attrs["data-axis1"]), floats(scatter.attrs["data-axis2"])
    dot = lambda u, v: sum(x * y for x, y in zip(u, v))  # noqa: E731
    assert abs(dot(a1, a1) - 1) < 1e-12 and abs(dot(a2, a2) - 1) < 1e-12 and abs(dot(a1, a2)) < 1e-12
    lambdas = []
    for a in (a1, a2):  # eigenvectors: C a = lambda a
        Ca = [dot(row, a) for row in cov]
        lam = dot(a, Ca)
        assert max(abs(x - lam * y) for x, y in zip(Ca, a)) < 1e-8
        lambdas.append(lam)
    assert lambdas[0] >= lambdas[1] > 0
    points = scatter.all("g", class_="token")
    assert len(points) == V
    for g in points:
        row = X[int(g.attrs["data-token"])]
        assert abs(float(g.attrs["data-x"]) - dot(row, a1)) < 1e-12
        assert abs(float(g.attrs["data-y"]) - dot(row, a2)) < 1e-12
    torch = pytest.importorskip("torch")
    top = sorted(torch.linalg.eigvalsh(torch.tensor(cov, dtype=torch.float64)).tolist(), reverse=True)[:2]
    assert abs(top[0] - lambdas[0]) < 1e-10 and abs(top[1] - lambdas[1]) < 1e-10  # the two largest


def test_the_surprise_of_each_character_is_the_models_loss(trained, page):
    result, _, _ = trained
    model, tok = result["model"], result["tokenizer"]
    rows = page.all("svg", class_="surprise")
    assert len(rows) == report.EXAMPLES
    for row in rows:
        doc = row.attrs["data-doc"]
        losses = [float(r.attrs["data-loss"]) for r in row.all("rect")]
        assert len(losses) == len(doc) + 1  # every character, then the end
        assert abs(sum(losses) / len(losses) - engine.loss_only(model, [tok.frame(doc)])) < 1e-12
    # the top-5 bars of the first name: the scalar engine's softmax, by hand
    doc = rows[0].attrs["data-doc"]
    tokens = tok.frame(doc)
    logits = model.forward(scalar_engine.ScalarOps(model), [tokens[:-1]])
    bars = page.all("svg", class_="top5")
    assert [int(b.attrs["data-t"]) for b in bars] == list(range(len(tokens) - 1))
    for bar, row in zip(bars, logits):
        z = [math.exp(v.data) for v in row]
        probs = [e / sum(z) for e in z]
        shown = [(int(pair.split(":")[0]), float(pair.split(":")[1])) for pair in bar.attrs["data-top"].split()]
        assert [t for t, _ in shown] == sorted(range(len(probs)), key=lambda i: -probs[i])[:5]
        assert all(abs(p - probs[t]) < 1e-12 for t, p in shown)


def test_the_samples_are_the_ones_training_printed(trained, page, tiny):
    result, lines, _ = trained
    printed = [line.split(": ", 1)[1] for line in lines if line.startswith("sample ")]
    shown = page.one("ol", class_="samples").all("li")
    assert [li.words() for li in shown] == printed == result["samples"]
    docs = files.load_docs(tiny)
    random.Random(3).shuffle(docs)
    train_docs = set(docs[:360])
    assert [li.attrs["class"] for li in shown] == ["seen" if n in train_docs else "new" for n in printed]
    share = page.one("svg", class_="share")
    assert int(share.attrs["data-new"]) == sum(1 for n in printed if n not in train_docs)


def test_the_command_line_repeats_the_run(trained, page):
    ck = checkpoint.load(os.path.join(trained[2], runs.CHECKPOINT))
    command = page.one("section", id="run").one("code").words()
    words = shlex.split(command)
    assert words[:2] == ["microgpt", "train"]
    args = cli.make_parser().parse_args(words[1:])
    assert TrainConfig(**{k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__}) == ck.config
    assert "--steps 40" in command and "--n-layer" not in command  # only what differs from the defaults
    counts = page.one("section", id="run").all("td", **{"class": "n"})
    assert int(counts[-1].words()) == trained[0]["model"].num_params


def test_the_same_run_directory_gives_the_same_bytes(trained, capsys):
    run_dir = trained[2]
    path = os.path.join(run_dir, report.REPORT)
    with open(path, "rb") as f:
        written_by_train = f.read()
    assert main(["report", run_dir]) == 0
    assert capsys.readouterr().out == "report: %s\n" % path
    with open(path, "rb") as f:
        assert f.read() == written_by_train
    assert main(["report", run_dir + os.sep]) == 0  # the same directory, written another way
    with open(path, "rb") as f:
        assert f.read() == written_by_train


def test_while_training_the_page_reloads_itself(tiny, tmp_path, monkeypatch):
    pages = []
    real = report.page
    monkeypatch.setattr(report, "page", lambda run: pages.append((run.ck.step, run.live, real(run))) or pages[-1][2])
    cfg = TrainConfig(data=tiny, steps=12, eval_every=4, eval_docs=5, save_every=0, num_samples=2, quiet=True)
    training.train(cfg, out=io.StringIO(), err=io.StringIO(), run_dir=str(tmp_path / "run"))
    assert [(step, live) for step, live, _ in pages] == [(4, True), (8, True), (12, False)]
    for step, live, text in pages:
        assert (report.RELOAD in text) == live
        assert ("Training: step %d of 12." % step in text) == live
    with open(str(tmp_path / "run" / report.REPORT), encoding="utf-8") as f:
        assert f.read() == pages[-1][2]


def rendered(run_dir):
    """The report of `run_dir`, written by the command, parsed, its six figures checked for."""
    assert main(["report", run_dir]) == 0
    tree = parse(os.path.join(run_dir, report.REPORT))
    assert [s.attrs["id"] for s in tree.all("section", class_="figure")] == FIGURES
    return tree


def test_odd_runs_all_render(tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    quick = ["--quiet", "--num-samples", "3", "--eval-every", "0"]
    assert main(["--data", tiny, "--out", "one", "--steps", "1"] + quick) == 0
    assert "Complete: 1 of 1 steps." in rendered("one").words()
    assert main(["--data", tiny, "--out", "noval", "--steps", "5", "--val-fraction", "0"] + quick) == 0
    tree = rendered("noval")
    assert not tree.all("polyline", **{"data-name": "held-out"}) and "bigram" not in tree.one(
        "section", id="loss").words()
    assert "(training)" in tree.one("section", id="attention").words()  # no held-out names: training ones
    moved = str(tmp_path / "moved.txt")
    with open(tiny, "rb") as src, open(moved, "wb") as dst:
        dst.write(src.read())
    assert main(["--data", moved, "--out", "moved", "--steps", "3"] + quick) == 0
    os.remove(moved)
    tree = rendered("moved")
    assert "New or seen: unknown, the training data %s is not there" % moved in tree.words()
    assert "(generated)" in tree.one("section", id="attention").words()
    capsys.readouterr()


class StopAt:
    """An engine that asks training to stop (as a first Ctrl-C does) at its n-th step."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def loss_and_grad(self, model, batch):
        self.calls += 1
        if self.calls == self.n:
            os.kill(os.getpid(), __import__("signal").SIGINT)
        return engine.loss_and_grad(model, batch)


def test_a_run_stopped_part_way_renders(tiny, tmp_path, monkeypatch):
    monkeypatch.setitem(speed.ENGINES, "fast", StopAt(7))
    cfg = TrainConfig(data=tiny, steps=30, eval_every=3, eval_docs=5, save_every=0, num_samples=2, quiet=True)
    with pytest.raises(console.Interrupted):
        training.train(cfg, out=io.StringIO(), err=io.StringIO(), run_dir=str(tmp_path / "run"))
    tree = parse(str(tmp_path / "run" / report.REPORT))
    assert "Stopped at step 7 of 30" in tree.words() and not tree.all("meta", **{"http-equiv": "refresh"})
    assert "Stopped at step 7 of 30" in rendered(str(tmp_path / "run")).words()


def test_a_report_that_cannot_be_written_is_one_warning_and_the_run_goes_on(tiny, tmp_path, monkeypatch):
    def broken(run):
        raise OSError("disk full")
    monkeypatch.setattr(report, "page", broken)
    out, err = io.StringIO(), io.StringIO()
    cfg = TrainConfig(data=tiny, steps=4, eval_every=2, num_samples=1, quiet=True)
    result = training.train(cfg, out=out, err=err, run_dir=str(tmp_path / "run"))
    assert result["step"] == 4 and "report:" not in out.getvalue()
    assert err.getvalue().splitlines() == ["warning: could not write the report %s: disk full"
                                           % os.path.join(str(tmp_path / "run"), "report.html")] * 2


def test_missing_or_damaged_run_directories_are_one_line(tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cases = [(["report", "nothere"], "no run directory at nothere")]
    with open("a-file", "w") as f:
        f.write("x")
    cases.append((["report", "a-file"], "a-file is a file, not a run directory"))
    os.mkdir("empty")
    cases.append((["report", "empty"], "no checkpoint at %s" % os.path.join("empty", "checkpoint.json")))
    assert main(["--data", tiny, "--out", "run", "--steps", "2", "--quiet", "--num-samples", "0"]) == 0
    with open(os.path.join("run", "checkpoint.json"), "r+b") as f:
        f.truncate(500)
    cases.append((["report", "run"], "is not a readable checkpoint: it is truncated or corrupted"))
    capsys.readouterr()
    for argv, message in cases:
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err, err


def test_a_metrics_file_that_is_not_a_file_is_one_line_for_report_and_resume(tiny, tmp_path, monkeypatch, capsys):
    # a FIFO would block the report forever and /dev/zero would fill memory; a line nested too deep to
    # parse is skipped like any other damaged line
    monkeypatch.chdir(tmp_path)
    assert main(["--data", tiny, "--out", "run", "--steps", "2", "--quiet", "--num-samples", "0"]) == 0
    metrics = os.path.join("run", runs.METRICS)
    checkpoint_bytes = open(os.path.join("run", runs.CHECKPOINT), "rb").read()
    kept = open(metrics).read()
    with open(metrics, "a") as f:
        f.write("[" * 100000 + "\n")
    assert [r["step"] for r in runs.read_metrics(metrics)] == [json.loads(line)["step"] for line in kept.splitlines()]
    capsys.readouterr()
    for make, says in ((os.mkfifo, "is a named pipe (FIFO), not a metrics file"),
                       (lambda path: os.symlink("/dev/zero", path), "is a character device, not a metrics file")):
        os.remove(metrics)
        make(metrics)
        for argv in (["report", "run"], ["--resume", "run", "--steps", "4", "--quiet", "--num-samples", "0"]):
            assert main(argv) == 1
            err = capsys.readouterr().err
            assert len(err.splitlines()) == 1 and says in err, err
    assert open(os.path.join("run", runs.CHECKPOINT), "rb").read() == checkpoint_bytes


def test_report_and_sample_default_to_the_run_trained_last(tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert runs.last_run() == os.path.join("runs", "names")  # nothing trained yet
    assert main(["report"]) == 1 and "no run directory at %s" % os.path.join("runs", "names") in \
        capsys.readouterr().err
    for name in ("b", "a"):
        assert main(["--data", tiny, "--out", os.path.join("runs", name), "--steps", "2", "--quiet",
                     "--num-samples", "0", "--seed", "1" if name == "a" else "2"]) == 0
    os.utime(os.path.join("runs", "a", "checkpoint.json"), ns=(1, 2 * 10 ** 18))
    os.utime(os.path.join("runs", "b", "checkpoint.json"), ns=(1, 1 * 10 ** 18))
    capsys.readouterr()
    assert main(["report"]) == 0 and capsys.readouterr().out == "report: %s\n" % os.path.join(
        "runs", "a", "report.html")
    assert main(["sample", "--num-samples", "1"]) == 0
    assert capsys.readouterr().out.startswith("checkpoint: %s " % os.path.join("runs", "a", "checkpoint.json"))
    os.utime(os.path.join("runs", "b", "checkpoint.json"), ns=(1, 3 * 10 ** 18))
    assert runs.last_run() == os.path.join("runs", "b")


def test_speed_is_the_logged_tokens_over_the_logged_time(trained):
    run = report.load(trained[2])
    docs, B = run.dataset.train_docs, run.cfg.batch_size
    run.metrics = [{"step": 3, "loss": 1.0, "tokens_per_s": 100.0}, {"step": 7, "loss": 1.0, "tokens_per_s": 50.0},
                   {"step": 500, "loss": 1.0, "tokens_per_s": 400.0}]  # 500 * 2 documents: around the list 5 times
    spans = [(0, 3), (3, 7), (7, 500)]
    tokens = [sum(min(16, len(d) + 1) for s in range(a, b) for d in data.batch_docs(docs, s, B)) for a, b in spans]
    seconds = [n / r["tokens_per_s"] for n, r in zip(tokens, run.metrics)]
    steps_per_s, tokens_per_s = report.speed(run)
    assert abs(steps_per_s - 500 / sum(seconds)) < 1e-9 and abs(tokens_per_s - sum(tokens) / sum(seconds)) < 1e-6


def test_a_long_run_is_drawn_from_a_few_thousand_points(trained):
    run = report.load(trained[2])
    n = 3 * report.MAX_POINTS + 5
    run.metrics = [{"step": s, "loss": 3.0 - s / n, "lr": 0.01 * (1 - s / n)} for s in range(1, n + 1)]
    tree = Tree(report.page(run)).root
    line = tree.one("polyline", **{"data-name": "training"})
    steps = floats(line.attrs["data-x"])
    assert len(steps) <= report.MAX_POINTS + 1 and steps[0] == 1 and steps[-1] == n
    mean = floats(tree.one("polyline", **{"data-name": "smoothed"}).attrs["data-y"])
    window = 100  # the most: a mean of the last 100 steps
    assert abs(mean[-1] - sum(3.0 - s / n for s in range(n - window + 1, n + 1)) / window) < 1e-12


def test_any_characters_are_written_as_text(tmp_path):
    path = str(tmp_path / "odd.txt")
    docs = ["a<b", "c&d", 'e"f', "g'h", "i j", "<script>", "x]]>y"] * 5
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(docs) + "\n")
    cfg = TrainConfig(data=path, steps=3, num_samples=3, quiet=True, eval_every=0)
    training.train(cfg, out=io.StringIO(), err=io.StringIO(), run_dir=str(tmp_path / "run"))
    tree = parse(str(tmp_path / "run" / report.REPORT))
    assert not tree.all("script")[1:]  # the page's own script only
    labels = {g.one("text").words() for g in tree.one("svg", class_="scatter").all("g", class_="token")}
    assert labels == set("<&\"'>]abcdefghijptrsxy") | {"\u2423", "BOS"}  # a space is drawn as an open box


def test_a_run_of_a_million_samples_gets_a_page_of_200(monkeypatch):
    # the page draws what the run printed; a million of them would take the report hours (a fuzzer's find)
    from microgpt.tool import report
    drawn = []
    monkeypatch.setattr(report.sample, "generate", lambda *a, **k: drawn.append(1) or "ann")

    class Run:
        class cfg:
            num_samples, temperature = 10 ** 12, 0.5
        ck = type("ck", (), {"rng_state": __import__("random").Random(1).getstate()})
        model = tokenizer = decoder = None
        text = False  # a run of lines: names, not passages
    assert report.draw_samples(Run) == ["ann"] * report.MOST_SAMPLES and len(drawn) == report.MOST_SAMPLES
