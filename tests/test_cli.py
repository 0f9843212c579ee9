"""The command line, called in-process as main([...]) -> int, and once as `python -m microgpt`."""

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

from microgpt import __version__
from microgpt.tool.cli import main

FLAGS = ["--data", "--n-layer", "--n-embd", "--n-head", "--block-size", "--steps", "--lr", "--optimizer", "--seed",
         "--temperature", "--num-samples", "--engine"]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # whatever a run writes (a run directory, say) lands here
    return tmp_path


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert isinstance(code, int)
    return code, out, err


def test_help(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "usage:" in out and "train" in out
    code, out, _ = run(capsys, "train", "--help")
    assert code == 0
    for flag in FLAGS:
        assert flag in out


def test_unknown_command_is_one_line(capsys):
    code, out, err = run(capsys, "trian", "--steps", "1")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "unknown command 'trian'" in err and "train, sample, bench" in err


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and __version__ in out


def test_python_dash_m_version():
    env = dict(os.environ, PYTHONPATH=ROOT)
    p = subprocess.run([sys.executable, "-m", "microgpt", "--version"], cwd=ROOT, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[-1] == __version__


def test_train_prints_the_reference_lines(capsys, names_path):
    code, out, err = run(capsys, "train", "--data", names_path, "--steps", "3", "--num-samples", "4")
    assert code == 0, err
    lines = out.splitlines()
    for line in ("num docs: 32033", "vocab size: 27", "num params: 4192"):
        assert line in lines
    steps = [line for line in lines if line.startswith("step ")]
    assert len(steps) == 3
    assert re.fullmatch(r"step +1 / +3 \| loss 3\.3660", steps[0])  # the reference's first loss
    samples = [line for line in lines if line.startswith("sample ")]
    assert [s[:10] for s in samples] == ["sample  1:", "sample  2:", "sample  3:", "sample  4:"]
    assert all(re.fullmatch(r"sample +\d+: [a-z]*", s) for s in samples)
    assert "Traceback" not in err


def test_flags_alone_mean_train(capsys, names_path):
    # `microgpt --data F` is `microgpt train --data F`; --seed changes the stream, so the first loss too
    code, out, err = run(capsys, "--data", names_path, "--steps", "2", "--num-samples", "0", "--seed", "1",
                         "--optimizer", "sgd")
    assert code == 0, err
    steps = [line for line in out.splitlines() if line.startswith("step ")]
    assert len(steps) == 2 and "loss 3.3660" not in steps[0]
    assert not any(line.startswith("sample ") for line in out.splitlines())


def test_bench_whole_command_times_the_command_against_the_textbook(capsys, names_path):
    # one round of --quick: the ratio printed must be the two figures printed, divided
    code, out, err = run(capsys, "bench", "--whole-command", "--quick", "--data", names_path)
    assert code == 0, err
    ours = float(re.search(r"^the default command: [\d.]+ s, median ([\d.]+) s$", out, re.M).group(1))
    textbook = float(re.search(r"^textbook \(microgpt.py\), 1000 steps: [\d.]+ s, median ([\d.]+) s \(each "
                               r"extrapolated from 3 steps\)$", out, re.M).group(1))
    ratio = float(re.search(r"^the default command is ([\d.]+)x faster than", out, re.M).group(1))
    assert 0 < ours < textbook
    assert abs(ratio - textbook / ours) <= 0.05 + textbook / ours * 0.02  # the printed figures are rounded


COMPARE_ROW = re.compile(r"(\S+(?: \S+)?) +((?:CPython|PyPy) .+?) +(\d+\.\d) +(\d+\.\d\d)x +(.+)")


def test_bench_compare_prints_ratios_that_are_its_figures_divided(capsys, tiny, monkeypatch):
    # --quick: one round, the default run's first 20 steps and 2 of batch 32, on every engine found here
    monkeypatch.delenv("PYTHONPATH", raising=False)  # each engine's process is given the repository's
    code, out, err = run(capsys, "bench", "--compare", "--quick", "--data", tiny)
    assert code == 0, err
    tables = [t for t in out.split("\n\n") if re.search(r"^engine +interpreter +tokens/s", t, re.M)]
    assert len(tables) == 2
    for table, base in zip(tables, ("textbook", "fast")):
        rows = [COMPARE_ROW.fullmatch(line) for line in table.splitlines()]
        rows = [m.groups() for m in rows if m]
        assert rows[0][0] == base and rows[0][3] == "1.00"  # the yardstick first, 1.00x itself
        assert ("fast", "CPython %s" % sys.version.split()[0]) in [row[:2] for row in rows]
        for name, _, rate, ratio, diff in rows:
            assert ratio == "%.2f" % (float(rate) / float(rows[0][2])), (name, rate, ratio)
            if name == "fast":  # the same arithmetic on every interpreter: the same losses, to the bit
                assert diff == "0.0e+00"
        if base == "textbook":
            assert rows[0][4] == "3/3 as printed"  # microgpt.py's losses are the fast engine's, to 4 decimals
