"""The report in a real browser: headless Chromium opens it from disk, with no network, and must show
every figure, log no error, fetch nothing, answer the pointer, and draw a Chinese run's labels with a
font that has them. Skips, saying why, where Chromium is not installed (.ci/run installs Debian's).

Chromium is driven over the DevTools protocol on a pipe (scripts/chromium.py, standard library only).
The screenshots go to pytest's tmp_path, out of the repository.
"""

import io
import json
import os
import random
import subprocess
import sys

import pytest
from conftest import ROOT

from microgpt.config import TrainConfig
from microgpt.tool import report

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import chromium  # noqa: E402

from microgpt.tool import training

pytestmark = pytest.mark.skipif(chromium.find() is None,
                                reason="no chromium on PATH (Debian: apt-get install -y chromium)")

# [what, width, height] of every figure and of every SVG inside them, as the browser laid them out
SIZES = """JSON.stringify(Array.prototype.map.call(document.querySelectorAll("section.figure, section.figure svg"),
    function (el) {
        var r = el.getBoundingClientRect();
        return [el.tagName === "SECTION" ? "#" + el.id : el.getAttribute("class"), r.width, r.height];
    }))"""


def trained(folder, docs, steps=60, **settings):
    """A short run on `docs`, kept in folder/run; returns the report's path."""
    path = os.path.join(folder, "data.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(docs) + "\n")
    cfg = TrainConfig(data=path, steps=steps, batch_size=2, eval_every=20, eval_docs=10, num_samples=10, quiet=True,
                      **settings)
    result = training.train(cfg, out=io.StringIO(), err=io.StringIO(), run_dir=os.path.join(folder, "run"))
    assert result["step"] == steps
    return os.path.join(folder, "run", report.REPORT)


@pytest.fixture(scope="module")
def browser():
    with chromium.Browser() as b:
        yield b


def opened(browser, path, shot):
    page = browser.page(900, 900)
    url = "file://" + os.path.abspath(path)
    page.open(url)
    assert page.errors() == []
    assert page.requests() == [url]  # the page itself, and nothing else
    sizes = json.loads(page.evaluate(SIZES))
    assert [name for name, _, _ in sizes if name.startswith("#")] == [
        "#loss", "#samples", "#attention", "#embeddings", "#surprise", "#run"]
    assert {name for name, _, _ in sizes} >= {"chart", "share", "heatmap", "scatter", "surprise", "top5"}
    empty = [(name, w, h) for name, w, h in sizes if not (w > 0 and h > 0)]
    assert not empty, empty
    width, height = page.screenshot(shot)
    with open(shot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert width >= 700 and height > 2000
    return page


def test_the_report_opens_offline_without_errors(browser, names_path, tmp_path):
    with open(names_path, encoding="utf-8") as f:
        docs = f.read().splitlines()[:500]
    page = opened(browser, trained(str(tmp_path), docs), str(tmp_path / "report.png"))
    # the pointer over the loss chart: the script reads the values under it
    box = page.evaluate("(function () { var r = document.querySelector('svg.chart').getBoundingClientRect();"
                        " return [r.left, r.top, r.width, r.height]; })()")
    page.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": box[0] + box[2] / 2, "y": box[1] + box[3] / 2})
    readout = page.evaluate("document.querySelector('svg.chart .readout').textContent")
    assert readout.startswith("training ") and "smoothed" in readout and "held-out" in readout
    assert page.errors() == []


def cjk_fonts():
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "family"], stdout=subprocess.PIPE, universal_newlines=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {name.strip() for line in out.splitlines() for name in line.split(",") if name.strip()}


def test_a_chinese_run_renders_its_labels(browser, tmp_path):
    rng = random.Random(0)
    family, given = "王李张刘陈杨黄赵吴周", "伟芳娜敏静丽强磊军洋勇艳杰"
    docs = sorted({rng.choice(family) + "".join(rng.choice(given) for _ in range(rng.randint(1, 2)))
                   for _ in range(300)})
    page = opened(browser, trained(str(tmp_path), docs, steps=40), str(tmp_path / "report-zh.png"))
    labels = page.evaluate("Array.prototype.map.call(document.querySelectorAll('svg.scatter text.point'),"
                           " function (t) { return [t.textContent, t.getBBox().width]; })")
    assert {text for text, _ in labels} >= set(family + given)
    assert all(width > 0 for _, width in labels)
    fonts = cjk_fonts()
    if not fonts:
        pytest.skip("no font with Chinese glyphs is installed (Debian: apt-get install -y fonts-wqy-microhei)")
    used = page.fonts("svg.scatter g.token:nth-of-type(1) text")  # one label, a Chinese character
    assert used and all(name in fonts for name, _ in used), (used, fonts)


# every heatmap: its axis labels' boxes as laid out, [left, top, right, bottom], the column labels (along the
# top, anchored in the middle) apart from the row labels; the SVG's own box; and the positions its cells cover
HEATMAPS = """JSON.stringify(Array.prototype.map.call(document.querySelectorAll("svg.heatmap"), function (svg) {
    function box(el) { var r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }
    function labels(anchor) {
        return Array.prototype.filter.call(svg.querySelectorAll("text.axis"), function (t) {
            return t.getAttribute("text-anchor") === anchor; }).map(function (t) { return [t.textContent, box(t)]; });
    }
    var cells = svg.querySelectorAll("rect[data-s]"), columns = {};
    Array.prototype.forEach.call(cells, function (c) { columns[c.getAttribute("data-s")] = true; });
    return {doc: svg.getAttribute("data-doc"), svg: box(svg), columns: labels("middle"), rows: labels("end"),
            positions: Object.keys(columns).length};
}))"""


def overlapping(labels):
    """Pairs of labels whose boxes intersect (touching edges do not)."""
    return [(a, b) for i, (a, p) in enumerate(labels) for b, q in labels[i + 1:]
            if p[0] < q[2] and q[0] < p[2] and p[1] < q[3] and q[1] < p[3]]


def test_heatmap_labels_never_overlap_and_cover_a_long_context(browser, names_path, tmp_path):
    # documents of 50 to 63 characters fill most of a 64-token context; some end in wide labels (Chinese
    # characters, a control character drawn as U+0007, W and m)
    rng = random.Random(0)
    with open(names_path, encoding="utf-8") as f:
        names = f.read().split()[:2000]
    endings = ["王李", "\x07", "WmW", ""]
    docs = [" ".join(rng.choice(names) for _ in range(12))[:rng.randint(50, 60)] + rng.choice(endings)
            for _ in range(300)]
    path = trained(str(tmp_path), docs, steps=20, block_size=64)
    page = opened(browser, path, str(tmp_path / "report-64.png"))
    maps = json.loads(page.evaluate(HEATMAPS))
    assert maps
    for m in maps:
        assert m["positions"] == len(m["doc"]) + 1  # BOS and every character: nothing cut at 32
        for axis in ("columns", "rows"):
            assert not overlapping(m[axis]), (axis, overlapping(m[axis])[:3])
            outside = [text for text, b in m[axis] if b[0] < m["svg"][0] or b[2] > m["svg"][2]]
            assert not outside, (axis, outside)  # none cut off at the figure's edge
        assert len(m["rows"]) >= m["positions"] // 2 and len(m["columns"]) >= m["positions"] // 6
    assert any(text.startswith("U+0007") or text in "王李" for m in maps for text, _ in m["columns"] + m["rows"])


# the page as Chromium rendered it: its language, title and headings, and the text a reader sees (innerText:
# laid out, scripts and styles not), without the code, the passages and the config table's rows
RENDERED = """JSON.stringify({lang: document.documentElement.lang, title: document.title,
    headings: Array.prototype.map.call(document.querySelectorAll("h1, h2, h3, nav a, svg text.label"),
                                       function (el) { return el.textContent; }),
    text: (function () {
        document.querySelectorAll("code, pre, #run table:first-of-type tbody").forEach(function (el) { el.remove(); });
        return document.body.innerText; })()})"""


def test_the_chinese_report_in_the_browser(browser, tmp_path):
    from test_lang import CJK, chinese_names, english
    path = trained(str(tmp_path), chinese_names(), steps=40)
    report.write(report.load(os.path.dirname(path), lang="zh-CN"))
    page = opened(browser, path, str(tmp_path / "report-zh-CN.png"))
    box = page.evaluate("(function () { var r = document.querySelector('svg.chart').getBoundingClientRect();"
                        " return [r.left, r.top, r.width, r.height]; })()")
    page.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": box[0] + box[2] / 2, "y": box[1] + box[3] / 2})
    readout = page.evaluate("document.querySelector('svg.chart .readout').textContent")
    assert readout.startswith("训练 ") and "平滑 " in readout and "留出 " in readout and "（第 " in readout, readout
    fonts = cjk_fonts()
    if fonts:  # a heading drawn with a font that has Chinese glyphs, not as boxes
        assert any(name in fonts and glyphs > 0 for name, glyphs in page.fonts("h2")), page.fonts("h2")
    rendered = json.loads(page.evaluate(RENDERED))
    assert rendered["lang"] == "zh-CN" and rendered["title"].startswith("MicroGPT 运行记录 ")
    assert len(rendered["headings"]) > 20 and all(CJK.search(h) for h in rendered["headings"]), rendered["headings"]
    assert CJK.search(rendered["text"]) and not english(rendered["text"]), english(rendered["text"])
    assert page.errors() == []
