"""Hostile ways to run a run: its output closed (`| head`), its folder not its own or shared with
another run at once, a stale lock, temp files of a killed save, Ctrl-C at the worst moments, reporting
flags on a resume. Real processes where a real process is the point, in-process calls elsewhere."""

import errno
import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from microgpt import sample, speed
from microgpt.config import TrainConfig
from microgpt.speed import engine
from microgpt.tool import checkpoint, console, runs, sampling, training
from microgpt.tool.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BAD = ("Traceback", "Exception ignored", "BrokenPipeError")


def child(args, cwd, **kw):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.Popen([sys.executable] + args, cwd=str(cwd), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def one_error_line(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("microgpt: "), err
    return err


def snapshot(folder):
    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))}


def make_run(folder, data, steps=6, **kw):
    cfg = TrainConfig(data=data, steps=steps, num_samples=0, quiet=True, eval_every=0, **kw)
    training.train(cfg, out=io.StringIO(), err=io.StringIO(), run_dir=str(folder))
    return str(folder)


# --------------------------------------------------------------------------------------------------
# output that can be closed

def test_train_piped_into_head_still_trains_and_saves(tmp_path, tiny):
    p = child(["-m", "microgpt", "--data", tiny, "--steps", "60", "--out", "run", "--quiet"], tmp_path)
    assert p.stdout.readline().startswith("config: ")
    p.stdout.close()  # what `head -1` does once it has its line
    err = p.stderr.read()
    assert p.wait(timeout=60) == 0, err
    assert not any(b in err for b in BAD), err
    assert checkpoint.load(str(tmp_path / "run" / runs.CHECKPOINT)).step == 60


def test_sample_piped_into_head_stops_at_once(tmp_path, tiny):
    make_run(tmp_path / "run", tiny)
    # a million samples would take many minutes: the timeout shows that sampling stopped with its reader
    p = child(["-m", "microgpt", "sample", "--run", "run", "--num-samples", "1000000"], tmp_path)
    assert p.stdout.readline().startswith("checkpoint: ")
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait(timeout=60) == 0 and err == "", err


def test_samples_are_printed_as_they_are_drawn_and_stop_when_the_reader_goes():
    class Closing(list):  # a reader that leaves after 3 lines: later ones go nowhere (as runs.Lines does)
        closed = False

        def __call__(self, line):
            if not self.closed:
                self.append(line)
            self.closed = len(self) == 3

    def endless():
        while True:
            yield "bob"
            yield "zed"
    say = Closing()
    assert sampling.print_samples(endless(), {"bob"}, say) == ["bob", "zed", "bob"]
    assert say == ["sample  1: bob  (seen)", "sample  2: zed  (new)", "sample  3: bob  (seen)"]


def test_ctrl_c_while_sampling_keeps_what_was_printed(tmp_path, tiny, monkeypatch, capsys):
    run_dir = make_run(tmp_path / "run", tiny)
    real, calls = sample.generate, []

    def generate(*args, **kw):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args, **kw)
    monkeypatch.setattr(sample, "generate", generate)
    assert main(["sample", "--run", run_dir, "--num-samples", "10"]) == 130
    out = capsys.readouterr()
    assert [l[:10] for l in out.out.splitlines() if l.startswith("sample ")] == ["sample  1:", "sample  2:",
                                                                                  "sample  3:"]
    assert out.err == "microgpt: interrupted\n"


# --------------------------------------------------------------------------------------------------
# a run directory that is only ever the run's

def test_out_refuses_a_folder_that_is_not_a_run(tmp_path, tiny, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.json").write_text('{"my": "settings"}\n')
    (folder / "metrics.jsonl").write_text("my numbers\n")
    before = snapshot(str(folder))
    for extra in ([], ["--overwrite"]):
        assert main(["--data", tiny, "--steps", "2", "--out", str(folder), "--quiet"] + extra) == 1
        err = one_error_line(capsys)
        assert "is not empty and is not a MicroGPT run (it holds config.json, metrics.jsonl)" in err and "--out" in err
        assert snapshot(str(folder)) == before
    # the default folder steps aside instead
    assert runs.default_run_dir(str(folder) + ".txt", root=str(tmp_path)) == str(folder) + "-2"


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_succeeds(tmp_path, tiny, capsys):
    run_dir = make_run(tmp_path / "run", tiny)
    p = child(["-m", "microgpt", "--resume", "run", "--steps", "800", "--quiet", "--num-samples", "0", "--save-every",
               "0"], tmp_path)
    lock = tmp_path / "run" / runs.LOCK
    deadline = time.time() + 30
    while not (lock.exists() and lock.read_text().strip()) and time.time() < deadline:
        time.sleep(0.02)
    holder = "is in use by another training run (pid %d on " % p.pid
    assert main(["--data", tiny, "--steps", "3", "--out", run_dir, "--overwrite", "--quiet"]) == 1
    err = one_error_line(capsys)
    assert holder in err and err.endswith("wait for it to end, or choose another --out\n")
    assert main(["--resume", run_dir, "--steps", "900", "--quiet"]) == 1
    err = one_error_line(capsys)
    assert holder in err and err.endswith("wait for it to end, then resume it\n")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert checkpoint.load(os.path.join(run_dir, runs.CHECKPOINT)).step == 800
    with open(os.path.join(run_dir, runs.CONFIG)) as f:
        assert json.load(f)["config"]["steps"] == 800  # the first run's, not mixed with the others'
    assert not lock.exists()


def test_a_stale_lock_and_stray_temp_files_of_a_killed_run_are_taken_over(tmp_path, tiny, capsys):
    run_dir = make_run(tmp_path / "run", tiny)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that was a run's and is no more, as after a kill -9
    with open(os.path.join(run_dir, runs.LOCK), "w") as f:
        json.dump({"pid": dead.pid, "host": "here", "since": "long ago"}, f)
    strays = [".checkpoint.json.%d.0badcafe.tmp" % dead.pid, ".metrics.jsonl.%d.12ab.tmp" % dead.pid, runs.PENDING]
    for name in strays + ["notes.tmp"]:
        with open(os.path.join(run_dir, name), "w") as f:
            f.write("half")
    assert main(["--resume", run_dir, "--steps", "8", "--quiet", "--num-samples", "0"]) == 0, capsys.readouterr()
    assert checkpoint.load(os.path.join(run_dir, runs.CHECKPOINT)).step == 8
    left = os.listdir(run_dir)
    assert "notes.tmp" in left and runs.LOCK not in left and not set(strays) & set(left)


def test_overwrite_keeps_the_old_run_until_the_new_ones_first_save(tmp_path, tiny, monkeypatch, capsys):
    run_dir = make_run(tmp_path / "run", tiny)
    before = snapshot(run_dir)
    calls = []

    def loss_and_grad(model, batch):  # Ctrl-C during the new run's 3rd step, before any save
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return engine.loss_and_grad(model, batch)
    monkeypatch.setitem(speed.ENGINES, "fast", type("Sigint", (), {"loss_and_grad": staticmethod(loss_and_grad)}))
    flags = ["--data", tiny, "--out", run_dir, "--overwrite", "--steps", "50", "--quiet", "--seed", "7"]
    assert main(flags) == 130
    err = capsys.readouterr().err
    assert err == ("microgpt: interrupted at step 3 of 50, before the new run's first save; not saved: the run "
                   "that was in %s is kept as it was\n" % run_dir)
    assert snapshot(run_dir) == before  # checkpoint, metrics, config and report, byte for byte
    monkeypatch.undo()
    assert main(flags[:5] + ["--steps", "4", "--quiet", "--num-samples", "0"]) == 0  # and when it does save
    with open(os.path.join(run_dir, runs.METRICS)) as f:
        assert [json.loads(l)["step"] for l in f] == [1, 2, 3, 4, 4]
    assert json.load(open(os.path.join(run_dir, runs.CONFIG)))["config"]["steps"] == 4


def test_an_unwritable_run_is_resumed_with_a_hint_that_fits_resume(tmp_path, tiny, monkeypatch, capsys):
    run_dir = make_run(tmp_path / "run", tiny)

    def refuse(self):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(runs.Lock, "acquire", refuse)
    assert main(["--resume", run_dir, "--steps", "9"]) == 1
    err = one_error_line(capsys)
    assert err == ("microgpt: error: cannot write to the run directory %s: Permission denied; make it writable, or "
                   "copy the run to a folder you can write to and resume that\n" % run_dir)


# --------------------------------------------------------------------------------------------------
# Ctrl-C before the program has really started

@pytest.mark.parametrize("how, after", [("module", "microgpt.errors"), ("script", "microgpt.model"),
                                        ("module", "microgpt.tool.cli")])
def test_ctrl_c_while_importing_is_one_line_and_130(tmp_path, tiny, how, after):
    """SIGINT as soon as the child has imported `after` (-X importtime tells, on stderr): somewhere in the
    package's own imports, or just after them. `script` runs main as the `microgpt` console script does."""
    script = "import sys; from microgpt.tool.cli import console; sys.exit(console())"
    args = ["-m", "microgpt"] if how == "module" else ["-c", script]
    p = child(["-X", "importtime"] + args + ["--data", tiny, "--steps", "5000", "--out", "run", "--quiet"], tmp_path)
    for line in p.stderr:  # "import time:  self [us] | cumulative | (indented) module"
        if line.split("|")[-1].strip() == after:
            break
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    said = [l for l in err.splitlines() if not l.startswith("import time:")]
    assert p.returncode == 130 and len(said) <= 1 and not any(b in err for b in BAD), err
    assert said == [] or said[0].startswith(("python -m microgpt: interrupted", "microgpt: interrupted"))


# --------------------------------------------------------------------------------------------------
# reporting flags on a resume are that resume's own

def test_a_resumes_reporting_flags_do_not_stick(tmp_path, tiny, monkeypatch, capsys):
    monkeypatch.setattr(console.Progress, "PLAIN_EVERY", 0.0)
    run_dir = str(tmp_path / "run")
    assert main(["--data", tiny, "--steps", "4", "--out", run_dir, "--num-samples", "0"]) == 0
    capsys.readouterr()
    assert main(["--resume", run_dir, "--steps", "6", "--quiet", "--log-every", "3", "--num-samples", "2"]) == 0
    out = capsys.readouterr()
    assert out.err == "" and "step    5 /" not in out.out and out.out.count("sample ") == 2
    stored = checkpoint.load(os.path.join(run_dir, runs.CHECKPOINT)).config
    assert (stored.steps, stored.quiet, stored.log_every, stored.num_samples) == (6, False, 1, 0)
    assert main(["--resume", run_dir, "--steps", "9"]) == 0
    out = capsys.readouterr()
    assert "step 8/9 | loss" in out.err and "step    8 /    9" in out.out and "sample " not in out.out

    quiet_dir = str(tmp_path / "quiet")  # a run started with --quiet shows progress on a resume with --no-quiet
    assert main(["--data", tiny, "--steps", "3", "--out", quiet_dir, "--num-samples", "0", "--quiet"]) == 0
    assert main(["--resume", quiet_dir, "--steps", "5", "--no-quiet"]) == 0
    assert "step 4/5 | loss" in capsys.readouterr().err
    assert checkpoint.load(os.path.join(quiet_dir, runs.CHECKPOINT)).config.quiet is True


# --------------------------------------------------------------------------------------------------
# an evaluation that takes a while says so before it starts

def test_a_long_evaluation_is_announced_with_its_size_and_an_estimate(tmp_path, tiny, monkeypatch):
    monkeypatch.setattr(console.Progress, "SLOW_EVAL", 0.0)  # every evaluation counts as long
    monkeypatch.setattr(console.Progress, "PLAIN_EVERY", 1e9)
    monkeypatch.setattr(training.Training, "CALIBRATE", 2)  # 30 held-out docs are "large" next to 2
    for eval_every, calibrated in ((0, True), (5, False)):
        err = io.StringIO()
        cfg = TrainConfig(data=tiny, steps=12, eval_every=eval_every, eval_docs=10, num_samples=0)
        training.train(cfg, out=io.StringIO(), err=err)
        lines = err.getvalue().splitlines()
        final = [l for l in lines if l.startswith("step 12/12 | evaluating on 30 held-out docs, about 0m")]
        assert len(final) == 1, lines
        # the first periodic evaluation is too small to time first; the second is estimated from it
        assert [l for l in lines if "evaluating on 10 " in l] == \
            ([] if calibrated else ["step 10/12 | evaluating on 10 held-out docs, about 0m00s"])
    monkeypatch.setattr(console.Progress, "SLOW_EVAL", 3.0)  # a quick one is not announced
    err = io.StringIO()
    training.train(TrainConfig(data=tiny, steps=3, eval_every=0, num_samples=0), out=io.StringIO(), err=err)
    assert "evaluating" not in err.getvalue()


# --------------------------------------------------------------------------------------------------
# what a folder holds, and who else writes it

def test_a_users_own_files_with_a_runs_names_are_not_taken_for_a_run(tmp_path, tiny, capsys):
    # a folder holding only a metrics.jsonl, report.html or run.lock of someone else's, or another tool's
    # checkpoint.json and config.json, is not a run: refused, and every file left as it was
    cases = {"metrics.jsonl": "my own experiment log\n", "report.html": "<html>my page</html>\n",
             "run.lock": "user file\n", "checkpoint.json": '{"model_type": "gpt2"}\n'}
    for name, text in cases.items():
        folder = tmp_path / ("mine-" + name)
        folder.mkdir()
        (folder / name).write_text(text)
        if name == "checkpoint.json":
            (folder / "config.json").write_text('{"architectures": ["GPT2LMHeadModel"]}\n')
        before = snapshot(str(folder))
        for extra in ([], ["--overwrite"]):
            assert main(["--data", tiny, "--steps", "2", "--out", str(folder), "--quiet"] + extra) == 1
            assert "is not empty and is not a MicroGPT run (it holds %s" % ("checkpoint.json" if name ==
                                                                            "checkpoint.json" else name) \
                in one_error_line(capsys)
            assert snapshot(str(folder)) == before


def test_links_in_a_run_folder_are_never_written_through(tmp_path, tiny, capsys):
    precious = tmp_path / "precious.txt"
    precious.write_text("precious user data\n")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    os.symlink(str(precious), str(fresh / "metrics.jsonl"))
    assert main(["--data", tiny, "--steps", "2", "--out", str(fresh), "--quiet"]) == 1
    assert "(it holds metrics.jsonl)" in one_error_line(capsys)
    run_dir = make_run(tmp_path / "run", tiny)
    os.symlink(str(precious), os.path.join(run_dir, runs.LOCK))
    before = snapshot(run_dir)
    assert main(["--resume", run_dir, "--steps", "8", "--quiet", "--num-samples", "0"]) == 1
    assert "run.lock is not a plain file (a link, a folder or a FIFO)" in one_error_line(capsys)
    assert precious.read_text() == "precious user data\n" and snapshot(run_dir) == before


def test_a_resume_refuses_a_checkpoint_saved_over_while_it_was_starting(tmp_path, tiny, capsys, monkeypatch):
    # between reading the checkpoint and taking the lock, another run saves there: continuing the old
    # checkpoint would save over that run's work
    from microgpt.tool.files import write_atomic
    run_dir = make_run(tmp_path / "run", tiny)
    path = os.path.join(run_dir, runs.CHECKPOINT)
    real = checkpoint.training_data

    def another_run_saves(ck, data_path):
        write_atomic(path, open(path, "rb").read())  # a new file in its place, as any save makes
        return real(ck, data_path)
    monkeypatch.setattr(checkpoint, "training_data", another_run_saves)
    before = snapshot(run_dir)
    assert main(["--resume", run_dir, "--steps", "9", "--quiet", "--num-samples", "0"]) == 1
    assert "checkpoint.json changed while this resume was starting" in one_error_line(capsys)
    assert snapshot(run_dir) == before and not os.path.exists(os.path.join(run_dir, runs.LOCK))
    monkeypatch.setattr(checkpoint, "training_data", real)
    assert main(["--resume", run_dir, "--steps", "9", "--quiet", "--num-samples", "0"]) == 0  # again: it goes


def test_a_full_disk_is_one_line_and_lets_the_lock_go(tmp_path, tiny, capsys, monkeypatch):
    class FullDisk(io.StringIO):
        def write(self, *args):
            raise OSError(errno.ENOSPC, "No space left on device")
        close = flush = write  # closing retries the flush, and fails again

    run_dir = make_run(tmp_path / "run", tiny)
    real = runs.RunDir.start_resumed

    def then_the_disk_fills(self, *args):
        real(self, *args)
        self.log_file = FullDisk()
    monkeypatch.setattr(runs.RunDir, "start_resumed", then_the_disk_fills)
    from microgpt.tool import report

    def no_space(*args):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(report, "write_atomic", no_space)  # the final page cannot be written either
    before = open(os.path.join(run_dir, runs.CHECKPOINT), "rb").read()
    assert main(["--resume", run_dir, "--steps", "9", "--quiet", "--num-samples", "0"]) == 1
    assert "No space left on device" in one_error_line(capsys)  # one line: no traceback, no report warning
    assert not os.path.exists(os.path.join(run_dir, runs.LOCK))
    assert open(os.path.join(run_dir, runs.CHECKPOINT), "rb").read() == before


def test_after_its_work_the_console_script_ignores_ctrl_c(monkeypatch):
    from microgpt.tool import cli
    monkeypatch.setattr(cli, "main", lambda: 0)
    previous = {signum: signal.getsignal(signum) for signum in console.STOPS}
    try:
        assert cli.console() == 0
        assert all(signal.getsignal(signum) is signal.SIG_IGN for signum in console.STOPS)  # SIGTERM, SIGHUP too
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_output_closed_or_on_a_full_disk(tmp_path, tiny):
    # stdout closed from the start (`>&-`) is a reader that has gone: train trains and saves, exit 0;
    # stdout on a full disk (`>/dev/full`) loses what a command prints: one line, exit 1
    p = child(["-m", "microgpt", "--data", tiny, "--steps", "5", "--out", "run", "--num-samples", "3", "--quiet"],
              tmp_path, preexec_fn=lambda: os.close(1))
    _, err = p.communicate(timeout=60)
    assert p.returncode == 0 and not any(b in err for b in BAD), err
    assert checkpoint.load(str(tmp_path / "run" / runs.CHECKPOINT)).step == 5
    for args, says in ((["sample", "--run", "run", "--num-samples", "3"], "cannot write the samples: "),
                       (["report", "run"], "cannot write the output: "),
                       (["export", "run", "--out", "w.safetensors"], "cannot write the output: ")):
        with open("/dev/full", "w") as full:
            p = subprocess.Popen([sys.executable, "-m", "microgpt"] + args, cwd=str(tmp_path), stdout=full,
                                 stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
            _, err = p.communicate(timeout=60)
        assert p.returncode == 1 and err.count("\n") == 1 and says in err and "Traceback" not in err, (args, err)
