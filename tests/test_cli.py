"""The command line, called in-process as main([...]) -> int, and once as `python -m microgpt`."""

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT, closed_port_url

from microgpt import __version__
from microgpt.cli import main

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


def one_error_line(err):
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line]
    assert len(errors) == 1, err
    return errors[0]


@pytest.fixture
def tiny_data(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("emma\nava\nliam\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("argv, codes, words", [
    (["--bogus"], [2], ["--bogus"]),
    (["train", "--n-layer"], [2], ["--n-layer"]),
    (["--steps", "0"], [2], ["--steps"]),
    (["--steps", "ten"], [2], ["--steps"]),
    (["--lr", "-0.01"], [2], ["--lr"]),
    (["--lr", "nan"], [2], ["--lr"]),
    (["--temperature", "-1"], [2], ["--temperature"]),
    (["--optimizer", "rmsprop"], [2], ["--optimizer"]),
    (["--engine", "gpu"], [2], ["--engine"]),
    (["--block-size", "1"], [1, 2], ["block"]),
    (["--n-embd", "10", "--n-head", "4"], [1, 2], ["divisible"]),
    (["--n-head", "0"], [1, 2], ["head"]),
], ids=lambda v: " ".join(v) if isinstance(v, list) and v and isinstance(v[0], str) else "")
def test_bad_flags(capsys, tiny_data, argv, codes, words):
    code, out, err = run(capsys, *(argv + ["--data", tiny_data]))
    assert code in codes
    line = one_error_line(err)
    for word in words:
        assert word in line
    assert "step " not in out  # refused before any training


def data_error(capsys, path):
    code, out, err = run(capsys, "--data", path, "--steps", "1")
    assert code == 1
    line = one_error_line(err)
    assert path in line
    return line


def test_missing_data_file(capsys, tmp_path):
    data_error(capsys, str(tmp_path / "nope.txt"))


def test_data_is_a_directory(capsys, tmp_path):
    assert "directory" in data_error(capsys, str(tmp_path))


@pytest.mark.parametrize("raw", [b"", b"  \n\n\t\n"], ids=["empty", "blank"])
def test_empty_data_file(capsys, tmp_path, raw):
    path = tmp_path / "empty.txt"
    path.write_bytes(raw)
    data_error(capsys, str(path))


def test_non_utf8_data_file(capsys, tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("emma\nJos\xe9\n".encode("latin-1"))
    assert "line 2" in data_error(capsys, str(path))


def test_no_network_says_how_to_pass_data(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MICROGPT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MICROGPT_NAMES_URL", closed_port_url())
    code, out, err = run(capsys, "--steps", "1")
    assert code == 1
    assert "--data" in one_error_line(err)
    assert not (tmp_path / "cache" / "names.txt").exists()
