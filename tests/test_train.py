"""Training as a tool: the run directory, exact resume, held-out loss, minibatches and progress."""

import io
import json
import os
import random
import shutil
import signal

import pytest
from conftest import first_names, shakespeare_file

from microgpt import data, scalar_engine, speed, train
from microgpt.config import PRESETS, TrainConfig
from microgpt.errors import MicroGPTError
from microgpt.model import GPT
from microgpt.speed import engine
from microgpt.tool import checkpoint, console, download, files, runs, training
from microgpt.tool.cli import main


def small(data_path, **kw):
    settings = dict(data=data_path, steps=24, batch_size=2, eval_every=5, eval_docs=10, save_every=7,
                    num_samples=5, quiet=True)
    settings.update(kw)
    return TrainConfig(**settings)


def records(run_dir):
    with open(os.path.join(run_dir, runs.METRICS)) as f:
        return [json.loads(line) for line in f]


class SigintAt:
    """An engine that, at its n-th step, sends this process a real SIGINT (as Ctrl-C would)."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def loss_and_grad(self, model, batch):
        self.calls += 1
        if self.calls == self.n:
            os.kill(os.getpid(), signal.SIGINT)
        return engine.loss_and_grad(model, batch)


def test_ctrl_c_then_resume_gives_the_same_bits_as_a_straight_run(tmp_path, tiny, monkeypatch):
    straight_dir, split_dir = str(tmp_path / "straight"), str(tmp_path / "split")
    straight = training.train(small(tiny), out=io.StringIO(), run_dir=straight_dir)

    monkeypatch.setitem(speed.ENGINES, "fast", SigintAt(10))
    with pytest.raises(console.Interrupted, match="interrupted at step 10 of 24; checkpoint saved") as e:
        training.train(small(tiny), out=io.StringIO(), run_dir=split_dir)
    assert "--resume " + split_dir in str(e.value)
    assert checkpoint.load(os.path.join(split_dir, runs.CHECKPOINT)).step == 10
    monkeypatch.undo()
    with open(os.path.join(split_dir, runs.METRICS), "a") as f:  # what a kill -9 could leave behind:
        f.write('{"step": 12, "loss": 9.0}\n{"step": 13, "lo')  # records past the checkpoint, a cut line

    out = io.StringIO()
    resumed = training.resume(split_dir, out=out)
    assert "(resumed at step 10)" in out.getvalue()
    assert "step   11 /   24" in out.getvalue() and "step   10 /   24" not in out.getvalue()

    # weights, Adam's moments, the random stream, the config: the checkpoint files are byte for byte equal
    with open(os.path.join(straight_dir, runs.CHECKPOINT), "rb") as a, \
            open(os.path.join(split_dir, runs.CHECKPOINT), "rb") as b:
        assert a.read() == b.read()
    # and so is every logged loss, learning rate and held-out loss (only the speed may differ)
    strip = [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in records(straight_dir)]
    assert strip == [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in records(split_dir)]
    assert [r["step"] for r in strip if "loss" in r] == list(range(1, 25))
    assert straight["losses"][10:] == resumed["losses"]
    assert straight["samples"] == resumed["samples"] and straight["val_loss"] == resumed["val_loss"]


def test_a_second_ctrl_c_stops_at_once_and_keeps_the_last_checkpoint(tmp_path, tiny, monkeypatch):
    class TwoSigints(SigintAt):
        def loss_and_grad(self, model, batch):
            if self.calls + 1 == self.n:
                os.kill(os.getpid(), signal.SIGINT)  # the first one only asks to stop after this step...
            return SigintAt.loss_and_grad(self, model, batch)  # ...the second one means now
    monkeypatch.setitem(speed.ENGINES, "fast", TwoSigints(9))
    run_dir = str(tmp_path / "run")
    with pytest.raises(console.Interrupted, match="during step 9 of 24; not saved: the last good checkpoint, "
                                                "step 7") as e:
        training.train(small(tiny), out=io.StringIO(), run_dir=run_dir)
    assert "\n" not in str(e.value)
    assert checkpoint.load(os.path.join(run_dir, runs.CHECKPOINT)).step == 7


def test_resume_with_more_steps_stretches_the_schedule(tmp_path, tiny):
    run_dir = str(tmp_path / "run")
    training.train(small(tiny, steps=10, batch_size=1), out=io.StringIO(), run_dir=run_dir)
    training.resume(run_dir, {"steps": 16}, out=io.StringIO())
    lrs = {r["step"]: r["lr"] for r in records(run_dir) if "lr" in r}
    assert [lrs[s] for s in range(1, 11)] == [0.01 * (1 - s / 10) for s in range(10)]
    assert [lrs[s] for s in range(11, 17)] == [0.01 * (1 - s / 16) for s in range(10, 16)]
    assert checkpoint.load(os.path.join(run_dir, runs.CHECKPOINT)).step == 16
    with pytest.raises(MicroGPTError, match="already trained 16 of 16 steps"):
        training.resume(run_dir, out=io.StringIO())
    with pytest.raises(MicroGPTError, match="--lr cannot change when resuming"):
        training.resume(run_dir, {"steps": 20, "lr": 0.02}, out=io.StringIO())


def test_held_out_loss_is_the_mean_over_every_predicted_token(tmp_path, tiny):
    run_dir = str(tmp_path / "run")
    result = training.train(small(tiny, eval_docs=4), out=io.StringIO(), run_dir=run_dir)
    docs = files.load_docs(tiny)
    random.Random(42).shuffle(docs)
    val_docs = docs[-30:]  # 10% of 300, from the end of the shuffled list
    model, tok = result["model"], result["tokenizer"]

    def reference(docs):  # one document at a time, each weighted by its predicted tokens
        nats = tokens = 0
        for d in docs:
            n = len(d) + 1  # every character and the closing BOS
            nats += engine.loss_only(model, [tok.frame(d)]) * n
            tokens += n
        return nats / tokens, tokens

    for d in val_docs[:2]:  # and those per-document losses are the scalar engine's, the living definition
        assert abs(engine.loss_only(model, [tok.frame(d)]) -
                   scalar_engine.loss_and_grad(model, [tok.frame(d)])[0]) < 1e-12

    evals = [r for r in records(run_dir) if "val_loss" in r]
    assert [(r["step"], r["val_docs"]) for r in evals] == [(5, 4), (10, 4), (15, 4), (20, 4), (24, 30)]
    loss, tokens = reference(val_docs)
    assert evals[-1]["val_tokens"] == tokens
    assert abs(evals[-1]["val_loss"] - loss) < 1e-12 and result["val_loss"] == evals[-1]["val_loss"]


def test_a_batch_trains_on_the_mean_over_all_its_tokens(tmp_path, tiny):
    result = training.train(small(tiny, steps=1, batch_size=3, num_samples=0), out=io.StringIO())
    docs = files.load_docs(tiny)
    rng = random.Random(42)
    rng.shuffle(docs)
    tok = data.Tokenizer.from_docs(docs)
    model = GPT(TrainConfig().model_config(tok.vocab_size), rng)  # the same initial weights
    per_doc = [(scalar_engine.loss_and_grad(model, [tok.frame(d)])[0], len(d) + 1) for d in docs[:3]]
    expected = sum(loss * n for loss, n in per_doc) / sum(n for _, n in per_doc)
    assert abs(result["losses"][0] - expected) < 1e-12


def test_metrics_has_one_record_per_logged_step(tmp_path, tiny):
    run_dir = str(tmp_path / "run")
    training.train(small(tiny, steps=12, log_every=5, eval_every=0), out=io.StringIO(), run_dir=run_dir)
    logged = [r for r in records(run_dir) if "loss" in r]
    assert [r["step"] for r in logged] == [5, 10, 12]
    assert all(set(r) == {"step", "loss", "lr", "tokens_per_s"} and r["tokens_per_s"] > 0 for r in logged)
    assert [r["step"] for r in records(run_dir) if "val_loss" in r] == [12]
    with open(os.path.join(run_dir, runs.CONFIG)) as f:
        saved = json.load(f)
    assert saved["config"]["log_every"] == 5 and saved["model"]["n_embd"] == 16
    assert saved["data"]["sha256"] == files.sha256_of(tiny)


def test_an_existing_run_is_never_silently_replaced(tmp_path, tiny, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    flags = ["--data", tiny, "--steps", "3", "--num-samples", "0", "--quiet"]
    assert main(flags) == 0 and main(flags) == 0  # the default folder steps aside: runs/tiny, runs/tiny-2
    assert sorted(os.listdir("runs")) == ["tiny", "tiny-2"]
    before = open("runs/tiny/checkpoint.json", "rb").read()
    capsys.readouterr()
    assert main(flags + ["--out", "runs/tiny", "--steps", "4"]) == 1
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--resume runs/tiny" in err and "--overwrite" in err
    assert open("runs/tiny/checkpoint.json", "rb").read() == before
    assert main(flags + ["--out", "runs/tiny", "--steps", "4", "--overwrite"]) == 0
    assert checkpoint.load("runs/tiny/checkpoint.json").step == 4
    assert main(["--resume", "runs/tiny", "--steps", "6", "--quiet", "--num-samples", "0"]) == 0
    assert checkpoint.load("runs/tiny/checkpoint.json").step == 6
    assert main(["--resume", "runs/tiny", "--out", "elsewhere"]) == 2


class FakeStream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_progress_is_live_on_a_terminal_plain_elsewhere_and_silent_when_quiet(monkeypatch):
    monkeypatch.setattr(console.Progress, "PLAIN_EVERY", 0.0)
    shown = {}
    for name, tty, enabled in [("terminal", True, True), ("pipe", False, True), ("quiet", True, False)]:
        stream = FakeStream(tty)
        p = console.Progress(stream, 0, 100, enabled)
        p.start -= 10  # as if 10 s had passed
        p.last -= 10
        p.val_loss = 2.5
        p.update(50, 2.75)
        p.close()
        shown[name] = stream.getvalue()
    assert shown["terminal"].startswith("\r\033[Kstep 50/100 | loss 2.7500 | held-out 2.5000 | 5.0 steps/s")
    assert "ETA 0m10s" in shown["terminal"] and shown["terminal"].endswith("\r\033[K")
    assert shown["pipe"] == "step 50/100 | loss 2.7500 | held-out 2.5000 | 5.0 steps/s | ETA 0m10s\n"
    assert shown["quiet"] == ""


def test_the_schedules():
    linear = TrainConfig(steps=10, lr=0.02)
    assert [train.get_lr(linear, s) for s in range(10)] == [0.02 * (1 - s / 10) for s in range(10)]  # the reference's
    warm = TrainConfig(steps=12, lr=0.02, warmup=4, schedule="cosine")
    lrs = [train.get_lr(warm, s) for s in range(12)]
    assert lrs[:4] == [0.005, 0.01, 0.015, 0.02] and lrs[4] == 0.02  # up in a straight line, then the peak
    assert all(a > b > 0 for a, b in zip(lrs[4:], lrs[5:]))  # then down, never to 0 within the run
    # half way through the decay the cosine is at half the peak; a linear decay after a warmup too
    assert abs(train.get_lr(TrainConfig(steps=104, warmup=4, schedule="cosine"), 54) - 0.005) < 1e-15
    assert abs(train.get_lr(TrainConfig(steps=104, warmup=4), 54) - 0.005) < 1e-15


def test_a_preset_is_a_set_of_defaults_that_flags_override(tmp_path, tiny, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--preset", "names-2min", "--data", tiny, "--steps", "3", "--workers", "1", "--num-samples", "0",
                 "--quiet"]) == 0
    config = [l for l in capsys.readouterr().out.splitlines() if l.startswith("config: ")][0]
    # the flags given (--workers among them, which the preset also sets), and the preset's own value
    assert " steps=3 " in config and " workers=1 " in config and " batch_size=32 " in config
    assert main(["--resume", "runs/tiny", "--preset", "names-2min"]) == 2
    assert main(["--data", tiny, "--steps", "5", "--warmup", "5"]) == 2


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_is_a_run_the_command_line_takes(name, tmp_path, monkeypatch, capsys):
    # not timed (docs/training.md has the measured runs): 2 steps of each, on its own data where it names one
    recipe = PRESETS[name][1]
    TrainConfig(**recipe).validate()
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(shakespeare_file(), str(cache / download.DATASETS["shakespeare"].file))
    monkeypatch.setenv(download.CACHE_ENV, str(cache))
    monkeypatch.chdir(tmp_path)
    names = [] if "data" in recipe else ["--data", first_names(tmp_path, 300)]
    given = {"steps": 2, "workers": 1, "num_samples": 0, "val_fraction": 0.01}
    argv = ["train", "--preset", name, "--quiet"] + names
    for key, value in given.items():
        argv += ["--" + key.replace("_", "-"), str(value)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    config = [l for l in out.splitlines() if l.startswith("config: ")][0].split()
    for key, value in dict(recipe, **given).items():
        assert "%s=%s" % (key, value) in config
    assert ("format: text" in out) == (recipe.get("data") == "shakespeare")


def test_the_cost_model_counts_the_shards_training_uses():
    from microgpt.tool import cost
    assert cost.SHARD == train.SHARD  # cost.py keeps its own copy (importing train would be a cycle)
