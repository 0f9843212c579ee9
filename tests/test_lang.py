"""The learner's language (messages.py): under --lang zh-CN or a zh locale the report and the progress and
warnings on stderr are in Simplified Chinese, and stdout's lines are byte for byte an English run's.

The check for English that slipped through reads the page as a person would (tags, scripts and styles
gone; tooltips kept), drops what is not prose (numbers, paths, flags, code, the config table's fields and
values) and allows a short list of names and symbols; it trains on Chinese names and a Chinese text, so
that the data's own text is never ASCII and every ASCII word left is the tool's.
"""

import ast
import contextlib
import dataclasses
import html
import io
import os
import random
import re

import pytest
from conftest import ROOT

from microgpt.config import TrainConfig
from microgpt.tool import console, cost, messages, report, runs, training
from microgpt.tool.cli import main

# Names and symbols that are the same in Chinese: the model's lineage and parts, units, and file names.
ALLOWED = {"MicroGPT", "microgpt", "GPT", "BOS", "BPE", "SHA", "ln", "wte", "wpe", "lm_head", "RMSNorm", "Adam",
           "names", "txt", "metrics", "jsonl"}
CJK = re.compile("[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"%[-#0 +]*\d*(?:\.\d+)?[a-z%]")


def english(text):
    """The words of English prose in `text`: ASCII words of two or more letters, once commands
    (`microgpt sample --length N`), flags and their values (`--format text`), paths, escapes like \\xe6 and
    code-ish names (with a digit, a dot, an underscore, a slash) are dropped, and but for ALLOWED."""
    text = re.sub(r"\bmicrogpt [a-z]+", " ", text)
    text = re.sub(r"\\x[0-9a-f]{2}|--[\w-]+( [a-z]+\b)?|\S*/\S*", " ", text)
    words = re.findall(r"[A-Za-z][\w\\]*(?:\.[\w\\]+)*", text)  # held-out is two words, a full stop no part of one
    return sorted({w for w in words if re.fullmatch(r"[A-Za-z]{2,}", w) and w not in ALLOWED})


def visible(page):
    """The page's text as a reader meets it: without scripts, styles, code and the config table's rows."""
    page = re.sub(r"<(script|style|code|pre)\b.*?</\1>", " ", page, flags=re.S)
    run = page.index('<section class="figure" id="run">')
    start = page.index("<tbody>", run)
    page = page[:start] + page[page.index("</tbody>", start):]  # the first table of #run: TrainConfig's own
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def chinese_names(n=300, seed=0):
    rng = random.Random(seed)
    family, given = "王李张刘陈杨黄赵吴周", "伟芳娜敏静丽强磊军洋勇艳杰"
    return sorted({rng.choice(family) + "".join(rng.choice(given) for _ in range(rng.randint(1, 2)))
                   for _ in range(n)})


def write_lines(folder, name, lines):
    path = os.path.join(str(folder), name)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def trained(folder, lines, lang="zh-CN", **settings):
    """A short run on `lines` kept in folder/run; its Run as report.load gives it, in `lang`."""
    settings = dict(dict(steps=30, batch_size=2, eval_every=10, eval_docs=10, num_samples=10, quiet=True), **settings)
    cfg = TrainConfig(data=write_lines(folder, "data.txt", lines), **settings)
    training.train(cfg, out=io.StringIO(), err=io.StringIO(), run_dir=os.path.join(str(folder), "run"), lang=lang)
    return report.load(os.path.join(str(folder), "run"), lang=lang)


# --------------------------------------------------------------------------------------------------
# the table

def test_every_translation_keeps_its_placeholders_and_is_chinese():
    for key, zh in messages.ZH_CN.items():
        assert PLACEHOLDER.findall(key) == PLACEHOLDER.findall(zh), (key, zh)
        assert zh != key and (CJK.search(zh) or not re.search("[A-Za-z]", key)), (key, zh)


def literal_keys(node):
    """The string constants a call's first argument can be: a literal, either side of `a if c else b`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return literal_keys(node.body) + literal_keys(node.orelse)
    return []


def test_every_message_the_tool_asks_for_has_a_translation():
    folder, asked = os.path.join(ROOT, "microgpt", "tool"), []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                tree = ast.parse(f.read())
            asked += [(name, key) for node in ast.walk(tree) if isinstance(node, ast.Call)
                      and isinstance(node.func, ast.Name) and node.func.id in ("t", "tr") and node.args
                      for key in literal_keys(node.args[0])]
    asked += [("console.py", key) for key in console.Progress.EVALUATING.values()]
    assert len(asked) > 100
    missing = [(name, key) for name, key in asked if key not in messages.ZH_CN]
    assert not missing, missing


def test_the_locale_chooses_unless_the_flag_does():
    assert messages.from_environment({}) == "en"
    assert messages.from_environment({"LANG": "zh_CN.UTF-8"}) == "zh-CN"
    assert messages.from_environment({"LANG": "C.UTF-8", "LC_MESSAGES": "zh_CN.UTF-8"}) == "zh-CN"
    assert messages.from_environment({"LANG": "zh_CN.UTF-8", "LC_ALL": "en_US.UTF-8"}) == "en"  # LC_ALL first
    assert messages.from_environment({"LANG": "zh_CN.UTF-8", "LC_ALL": ""}) == "zh-CN"  # set but empty: not set
    assert messages.choose("en", {"LC_ALL": "zh_CN.UTF-8"}) == "en"
    assert messages.choose(None, {"LC_ALL": "zh_TW.UTF-8"}) == "zh-CN"
    assert messages.t("Loss", "zh-CN") == "损失" and messages.t("Loss", "en") == "Loss"
    assert messages.t("a sentence not in the table", "zh-CN") == "a sentence not in the table"


# --------------------------------------------------------------------------------------------------
# the report

def headings(page):
    return re.findall(r"<h[123]>(.*?)</h[123]>", page, flags=re.S)


@pytest.fixture(scope="module")
def names_run(tmp_path_factory):
    return trained(tmp_path_factory.mktemp("zh-names"), chinese_names() + ["张" * 20, "李" * 24])


def test_the_chinese_report_has_no_english_prose(names_run):
    pages = {"complete": report.page(names_run)}
    live = report.Run(names_run.path, names_run.ck, names_run.dataset, live=True, lang="zh-CN")
    pages["live"] = report.page(live)
    stopped = dataclasses.replace(names_run.ck, step=20)
    # without the data (the why is an error message, which may stay English: here a Chinese one)
    pages["stopped"] = report.page(report.Run(names_run.path, stopped, None, "找不到数据文件", lang="zh-CN"))
    for name, page in pages.items():
        assert '<html lang="zh-CN">' in page
        words = english(visible(page))
        assert not words, (name, words)
        assert all(CJK.search(h) for h in headings(page)), (name, headings(page))
    english_page = report.page(report.load(names_run.path))
    assert '<html lang="en">' in english_page and len(english(visible(english_page))) > 100  # the check can fail


def test_a_chinese_text_with_bpe_has_no_english_prose(tmp_path):
    rng = random.Random(1)
    text = ["".join(rng.choice("春眠不觉晓处处闻啼鸟夜来风雨声花落知多少，。") for _ in range(rng.randint(20, 60)))
            for _ in range(120)]
    run = trained(tmp_path, text, format="text", tokenizer="bpe", vocab_size=270, num_samples=1, steps=12, eval_every=0)
    page = report.page(run)
    assert run.text and "BPE" in page
    assert not english(visible(page))
    assert all(CJK.search(h) for h in headings(page)), headings(page)


def test_the_report_command_writes_chinese_and_can_write_it_again(names_run, capsys):
    assert main(["report", names_run.path, "--lang", "zh-CN"]) == 0
    assert main(["report", names_run.path, "--lang", "zh-CN"]) == 0  # its own page, in Chinese: replaced
    with open(os.path.join(names_run.path, report.REPORT), encoding="utf-8") as f:
        page = f.read()
    assert '<html lang="zh-CN">' in page and runs.looks_ours(os.path.join(names_run.path, report.REPORT))
    assert capsys.readouterr().out.startswith("report: ")


def test_the_locale_chooses_the_reports_language(names_run, monkeypatch):
    path = os.path.join(names_run.path, report.REPORT)
    for env, lang in (({"LANG": "zh_CN.UTF-8"}, "zh-CN"), ({"LANG": "zh_CN.UTF-8", "LC_ALL": "C"}, "en")):
        for name in messages.ENVIRONMENT:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert main(["report", names_run.path]) == 0
        with open(path, encoding="utf-8") as f:
            assert '<html lang="%s">' % lang in f.read()
    assert main(["report", names_run.path, "--lang", "en"]) == 0  # under LANG=zh_CN: the flag wins
    with open(path, encoding="utf-8") as f:
        assert '<html lang="en">' in f.read()


# --------------------------------------------------------------------------------------------------
# the training run's stderr

def run_train(folder, lang, monkeypatch):
    """(stdout, stderr) of `microgpt train` in `folder` on a file with a few documents longer than the
    context, progress on every step, every evaluation announced and a time warning (a slow machine)."""
    monkeypatch.setattr(console.Progress, "PLAIN_EVERY", 0.0)
    monkeypatch.setattr(console.Progress, "SLOW_EVAL", 0.0)
    monkeypatch.setattr(cost, "NS_PER_MAC", 1e9)
    folder.mkdir()
    write_lines(folder, "data.txt", chinese_names(200) + ["王李" * (10 + i) for i in range(10)])
    out, err, cwd = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(str(folder))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["train", "--data", "data.txt", "--out", "run", "--steps", "30", "--eval-every", "10",
                         "--num-samples", "5", "--lang", lang])
    finally:
        os.chdir(cwd)
    assert code == 0, err.getvalue()
    return out.getvalue(), err.getvalue()


def test_train_speaks_chinese_on_stderr_and_the_same_stdout(tmp_path, monkeypatch):
    en_out, en_err = run_train(tmp_path / "en", "en", monkeypatch)
    zh_out, zh_err = run_train(tmp_path / "zh", "zh-CN", monkeypatch)
    assert zh_out == en_out and "step   30 /   30 | loss" in zh_out
    for needle in ("step 5/30 | loss", "evaluating on", "training documents are longer", "warning: 30 steps of"):
        assert needle in en_err, needle
    lines = zh_err.splitlines()
    assert any(re.match(r"第 5/30 步 \| 损失 \d+\.\d{4} \| ", line) for line in lines), lines
    assert any(" | 留出集 " in line for line in lines)  # the progress line after an evaluation
    assert any(re.match(r"第 \d+/30 步 \| 正在 \d+ 个留出文档上评估，约需 \d+分\d\d秒$", line) for line in lines)
    assert any(re.match(r"警告：\d+ / \d+ 个训练文档比上下文", line) for line in lines)
    assert any(line.startswith("警告：训练 30 步") for line in lines)
    wrong = [line for line in lines if not CJK.search(line) or english(line)]
    assert not wrong, wrong
    with open(str(tmp_path / "zh" / "run" / report.REPORT), encoding="utf-8") as f:
        assert '<html lang="zh-CN">' in f.read()  # the report training wrote, in the run's language
