"""What a new user meets first: bench's flags (none it lacks suggested, none that contradict accepted),
a preset with another engine, and where each default run goes."""

import os
import shutil

import pytest
from test_terminal import cli  # (exit code, stdout, stderr) of main(argv) in a folder

from microgpt.speed import workers
from microgpt.tool import bench, compare, torch_bench


def test_bench_on_a_small_file_times_it_without_asking_for_a_flag_it_lacks(tmp_path):
    with open(str(tmp_path / "five.txt"), "w") as f:
        f.write("emma\nolivia\nava\nisabella\nsophia\n")  # too few for train to hold one out at 10%
    code, out, err = cli(tmp_path, "bench", "--data", "five.txt", "--steps", "5", "--scalar-steps", "2",
                         "--no-textbook")
    assert code == 0 and "--val-fraction" not in err, err
    assert "fast engine speed-up over scalar" in out
    # --whole-command times the default command itself, which refuses such a file: its reason, in one line
    code, out, err = cli(tmp_path, "bench", "--data", "five.txt", "--whole-command", "--quick")
    assert code == 1 and len(err.splitlines()) == 1, err
    assert err.startswith("microgpt: error: --whole-command times `microgpt --data five.txt`, which failed: five.txt "
                          "has 5 documents: --val-fraction 0.1 holds out none of them"), err


@pytest.mark.parametrize("flags, words", [
    (["--quick", "--full"], "--quick and --full ask for different runs; give one of them"),
    (["--scaling", "--whole-command"], "--scaling and --whole-command are different benchmarks; choose one"),
    (["--scaling", "--engine", "torch"], "--scaling and --engine torch are different benchmarks; choose one"),
    (["--device", "cpu"], "bench does not use --device (bench --engine torch does); it takes --data, --steps,"),
    (["--scaling", "--steps", "50"], "bench --scaling does not use --steps (bench and bench --compare do); it takes "
                                     "--data, --quick, "
                                     "--workers, --seconds"),
    (["--whole-command", "--no-textbook"], "bench --whole-command does not use --no-textbook (bench does)"),
    (["--workers", "2"], "bench does not use --workers (bench --scaling does)"),
    (["--quick", "--steps", "50"], "--quick and --steps ask for different runs"),
    (["--compare", "--scaling"], "--scaling and --compare are different benchmarks; choose one"),
    (["--compare", "--whole-command"], "--whole-command and --compare are different benchmarks; choose one"),
    (["--compare", "--no-textbook"], "bench --compare does not use --no-textbook (bench does)"),
    (["--python", "python3.12"], "bench does not use --python (bench --compare does)"),
])
def test_bench_refuses_flags_that_contradict_or_go_unused(tmp_path, monkeypatch, flags, words):
    ran = []
    monkeypatch.setattr(bench, "run", lambda args: ran.append(args) or 0)  # no benchmark runs, whatever happens
    monkeypatch.setattr(torch_bench, "run", lambda args: ran.append(args) or 0)
    monkeypatch.setattr(compare, "run", lambda args: ran.append(args) or 0)
    code, out, err = cli(tmp_path, "bench", *flags)
    assert (code, out, ran) == (2, "", []), err
    assert err.startswith("microgpt: error: " + words) and len(err.splitlines()) == 1, err


def test_bench_takes_what_each_kind_uses(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(bench, "run", lambda args: ran.append("bench") or 0)
    monkeypatch.setattr(torch_bench, "run", lambda args: ran.append("torch") or 0)
    monkeypatch.setattr(compare, "run", lambda args: ran.append("compare") or 0)
    for flags in (["--quick", "--no-textbook"], ["--full"], ["--scaling", "--quick", "--workers", "1"],
                  ["--whole-command", "--textbook-steps", "5"], ["--engine", "torch", "--device", "cpu"],
                  ["--compare", "--steps", "100", "--textbook-steps", "5", "--python", "python3.12"]):
        code, _, err = cli(tmp_path, "bench", *flags)
        assert code == 0, (flags, err)
    assert ran == ["bench"] * 4 + ["torch", "compare"]


def test_a_preset_s_workers_are_not_forced_on_the_torch_engine(tmp_path, tiny, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setattr(workers, "usable_cores", lambda: 2)  # the preset's workers: one per core
    code, out, err = cli(tmp_path, "train", "--preset", "names-2min", "--engine", "torch", "--data", tiny,
                         "--steps", "2", "--out", "run", "--quiet", "--num-samples", "0", "--eval-every", "0")
    assert code == 0, err
    assert " engine=torch " in out and " workers=1 " in out
    # the user's own --workers with the torch engine is still refused
    code, _, err = cli(tmp_path, "train", "--preset", "names-2min", "--engine", "torch", "--workers", "2",
                       "--data", tiny, "--out", "run2")
    assert code == 2 and "workers is for the fast and scalar engines" in err, err


def test_each_default_run_is_kept_and_the_last_line_says_where_and_how_to_remove_one(tmp_path, tiny):
    assert os.path.dirname(tiny) == str(tmp_path)  # tiny.txt, in the folder the runs start from
    quick = ["--data", "tiny.txt", "--steps", "2", "--quiet", "--num-samples", "1", "--eval-every", "0"]
    code, out, err = cli(tmp_path, *quick)
    assert code == 0 and out.splitlines()[-1] == "report: runs/tiny/report.html", err  # the first: as ever
    code, out, err = cli(tmp_path, *quick)
    assert code == 0, err
    assert out.splitlines()[-2:] == ["report: runs/tiny-2/report.html", "run dir: runs/tiny-2, kept beside 1 earlier "
                                     "run of tiny (runs/tiny); remove one you no longer need with: rm -r runs/tiny"]
    code, out, err = cli(tmp_path, *quick)
    assert out.splitlines()[-1] == ("run dir: runs/tiny-3, kept beside 2 earlier runs of tiny (runs/tiny, "
                                    "runs/tiny-2); remove one you no longer need with: rm -r runs/tiny")
    shutil.rmtree(str(tmp_path / "runs" / "tiny"))  # as the line says; the next run takes the free name
    code, out, err = cli(tmp_path, *quick)
    assert out.splitlines()[-1] == ("run dir: runs/tiny, kept beside 2 earlier runs of tiny (runs/tiny-2, "
                                    "runs/tiny-3); remove one you no longer need with: rm -r runs/tiny-2")
    # a folder the user names is theirs to keep track of: nothing more is said
    code, out, err = cli(tmp_path, *(quick + ["--out", "mine"]))
    assert code == 0 and out.splitlines()[-1] == "report: mine/report.html", err
    assert sorted(os.listdir(str(tmp_path / "runs"))) == ["tiny", "tiny-2", "tiny-3"]
