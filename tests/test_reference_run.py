"""The default run, once for the whole suite, against Karpathy's published output, line for line.

Karpathy's microgpt, run as published (seed 42, 1000 steps), prints `step    1 / 1000 | loss 3.3660`,
ends at `step 1000 / 1000 | loss 2.6497`, and writes the 20 names below. Our default run must print the
same: that is the check against an independent reference for everything at once (shuffle, init order,
arithmetic order, Adam, sampling and the random stream they share).
"""

import contextlib
import io
import os
import re

import pytest
from conftest import names_file

from microgpt.tool.cli import main

PUBLISHED_SAMPLES = ["kamon", "ann", "karai", "jaire", "vialan", "karia", "yeran", "anna", "areli", "kaina",
                     "konna", "keylen", "liole", "alerin", "earan", "lenne", "kana", "lara", "alela", "anton"]
STEP = re.compile(r"step +(\d+) / +(\d+) \| loss (\d+\.\d{4})")


def run_cli(argv, folder):
    """(exit code, stdout lines, stderr) of main(argv) run in `folder`."""
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(str(folder))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        os.chdir(cwd)
    return code, out.getvalue().splitlines(), err.getvalue()


def losses(lines):
    found = [STEP.fullmatch(line) for line in lines]
    return [m.group(3) for m in found if m]


@pytest.fixture(scope="module")
def default_folder(tmp_path_factory):
    """The default 1000-step run (fast engine), once: (its stdout lines, the folder it ran in)."""
    names = names_file()
    folder = tmp_path_factory.mktemp("default-run")
    code, lines, err = run_cli(["--data", names], folder)
    assert code == 0, err
    return lines, folder


@pytest.fixture
def default_run(default_folder):
    return default_folder[0]


def test_reproduces_the_published_output(default_run):
    assert "run dir: runs/names" in default_run
    assert "num docs: 32033" in default_run
    assert "vocab size: 27" in default_run
    assert "num params: 4192" in default_run
    printed = losses(default_run)
    assert len(printed) == 1000
    assert printed[0] == "3.3660" and printed[-1] == "2.6497"
    samples = [line for line in default_run if line.startswith("sample ")]
    assert samples == ["sample %2d: %s" % (i + 1, name) for i, name in enumerate(PUBLISHED_SAMPLES)]


def test_loss_falls(default_run):
    first = [float(x) for x in losses(default_run)]
    # one name per step makes single losses noisy; means over 10 steps are not
    early, late = sum(first[:10]) / 10, sum(first[40:50]) / 10
    assert late < early - 0.2, (early, late)
    assert sum(first[-100:]) / 100 < 2.6 < sum(first[:100]) / 100


def test_its_checkpoint_goes_on_with_the_same_random_stream(default_folder):
    # the checkpoint holds the random stream as training left it: `sample` draws the published names again
    # (the same stream position as the training run's sampling), now marked new or seen
    code, out, err = run_cli(["sample"], default_folder[1])
    assert code == 0, err
    samples = [line.split(": ", 1)[1] for line in out if line.startswith("sample ")]
    assert [s.rsplit("  ", 1)[0] for s in samples] == PUBLISHED_SAMPLES
    assert all(s.endswith(("  (new)", "  (seen)")) for s in samples)


def test_scalar_engine_prints_the_same_losses(names_path, tmp_path):
    argv = ["--data", names_path, "--steps", "20", "--num-samples", "0"]
    (tmp_path / "fast").mkdir()
    (tmp_path / "scalar").mkdir()
    code, fast, err = run_cli(argv + ["--engine", "fast"], tmp_path / "fast")
    assert code == 0, err
    code, scalar, err = run_cli(argv + ["--engine", "scalar"], tmp_path / "scalar")
    assert code == 0, err
    assert len(losses(fast)) == 20
    assert losses(scalar) == losses(fast)
