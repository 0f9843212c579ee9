"""Text as one stream (issue 19): the format rule, windows and their held-out scoring, bits per character,
exact resume, workers and engines on windows, passages past the context, and Tiny Shakespeare by name."""

import io
import json
import math
import os
import random
import shutil

import pytest
from conftest import closed_port_url, shakespeare_file, shakespeare_slice
from test_reference_run import run_cli
from test_train import SigintAt, records

from microgpt import data, sample, scalar_engine, speed
from microgpt.config import TrainConfig
from microgpt.errors import MicroGPTError
from microgpt.model import GPT, GPTConfig
from microgpt.speed import engine
from microgpt.tool import checkpoint, console, download, runs, training


def small_text(path, **kw):
    settings = dict(data=path, format="text", block_size=8, steps=12, batch_size=3, eval_every=4, eval_docs=5,
                    save_every=5, num_samples=1, quiet=True)
    settings.update(kw)
    return TrainConfig(**settings)


@pytest.fixture
def play(tmp_path):
    """The first 3,000 characters of Tiny Shakespeare: 'First Citizen: Before we proceed any further...'."""
    return shakespeare_slice(tmp_path, 3000)


# --------------------------------------------------------------------------------------------------
# which format, and why

@pytest.mark.parametrize("long, short, expected", [(2, 2, "lines"), (3, 2, "text"), (0, 5, "lines"), (1, 0, "text")])
def test_auto_is_text_when_more_than_half_of_the_lines_do_not_fit(long, short, expected):
    # block_size 16 holds 15 characters between the two BOS tokens: 15 fits, 16 does not
    docs = ["x" * 16] * long + ["y" * 15] * short
    chosen, why = data.choose_format(docs, 16)
    assert chosen == expected
    assert why.startswith("%d of %d lines" % (long, long + short)) and "15 characters" in why


def test_the_header_says_which_format_and_why(tmp_path, play, tiny):
    code, out, err = run_cli(["--data", play, "--steps", "1", "--num-samples", "0", "--quiet", "--eval-every", "0",
                              "--val-fraction", "0.02"], tmp_path)
    assert code == 0, err
    # Shakespeare's lines are mostly longer than the 15 characters block_size 16 holds
    lines = [line.strip() for line in open(play, encoding="utf-8") if line.strip()]
    long = sum(len(line) > 15 for line in lines)
    assert 2 * long > len(lines) and [line for line in out if line.startswith("format: ")] == [
        "format: text (auto: %d of %d lines are longer than the 15 characters a context of 16 holds between BOS "
        "tokens)" % (long, len(lines))]
    assert "config: data=%s format=text " % play in out[0] + " "
    code, out, err = run_cli(["--data", tiny, "--steps", "1", "--num-samples", "1", "--quiet"], tmp_path)
    assert code == 0 and "format: lines (auto: 0 of 300 lines are longer than the 15 characters a context of 16 " \
                          "holds between BOS tokens)" in out
    assert "--- inference (new, hallucinated samples) ---" in out  # names only for the names dataset itself
    code, out, err = run_cli(["--data", play, "--format", "lines", "--steps", "1", "--num-samples", "0", "--quiet",
                              "--out", "lines"], tmp_path)
    assert code == 0 and "format: lines (asked for)" in out


def test_lines_longer_than_the_context_are_counted_to_the_token(tmp_path):
    path = tmp_path / "docs.txt"
    docs = ["a" * n for n in (3, 7, 8, 12, 20)] * 4  # block_size 8 predicts 8 of the n + 1 of a document
    path.write_text("\n".join(docs) + "\n")
    code, out, err = run_cli(["--data", str(path), "--block-size", "8", "--format", "lines", "--val-fraction", "0",
                              "--steps", "1", "--num-samples", "0", "--quiet"], tmp_path)
    assert code == 0
    # the reference: per document max(0, n + 1 - 8) tokens past the context, of n + 1
    cut = [n for n in (3, 7, 8, 12, 20) for _ in range(4) if n + 1 > 8]
    past, total = sum(n + 1 - 8 for n in cut), sum(n + 1 for n in cut)
    assert ("warning: %d of 20 training documents are longer than the context (block_size 8): %d of their %d "
            "tokens to predict" % (len(cut), past, total)) in err
    assert "held-out" not in err.split("warning:")[1].split("\n")[0]


# --------------------------------------------------------------------------------------------------
# windows

def test_windows_are_drawn_from_the_run_stream_and_held_out_windows_cover_every_token(play):
    raw = open(play, "rb").read()
    ds = data.make_dataset(raw, play, random.Random(1), "text", 0.1, 8)
    text = raw.decode("utf-8")
    assert ds.train_text + ds.val_text == text and len(ds.val_text) == 300  # the last tenth, by characters
    tok = data.Tokenizer(sorted(set(text)))
    assert ds.tokenizer.chars == tok.chars and ds.train_tokens == tok.encode(text[:2700])
    rng, again = random.Random(7), random.Random(7)
    batch = ds.batch(0, 4, rng)
    starts = [again.randrange(2700 - 9 + 1) for _ in range(4)]
    assert batch == [tok.encode(text[i:i + 9]) for i in starts]
    assert rng.getstate() == again.getstate()  # nothing else is drawn
    windows = ds.held_out()
    assert all(len(w) == 9 for w in windows[:-1]) and 2 <= len(windows[-1]) <= 9
    assert [t for w in windows for t in w[1:]] == ds.val_tokens[1:]  # each held-out token but the first, once
    assert [w[0] for w in windows[1:]] == [w[-1] for w in windows[:-1]]  # a window starts where the last ended
    assert ds.held_out(2) == windows[:2] and ds.num_held_out == len(windows) == math.ceil(299 / 8)


def test_a_text_too_short_for_one_window_or_a_held_out_token_is_one_line(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("to be or not")
    code, out, err = run_cli(["--data", str(path), "--format", "text", "--num-samples", "0"], tmp_path)
    assert code == 1 and err.count("\n") == 1 and "too few for one window of block_size + 1 = 17" in err
    path.write_text("to be or not to be, that is the question")
    code, out, err = run_cli(["--data", str(path), "--format", "text", "--val-fraction", "0.01"], tmp_path)
    assert code == 1 and err.count("\n") == 1 and "--val-fraction 0.01 holds out 0 tokens" in err


# --------------------------------------------------------------------------------------------------
# training on a text: held-out loss and bits per character, exact resume, workers, engines

def test_held_out_loss_and_bits_per_character_are_every_held_out_token(tmp_path, play):
    run_dir = str(tmp_path / "run")
    result = training.train(small_text(play), out=io.StringIO(), run_dir=run_dir)
    model = result["model"]
    ds = data.make_dataset(open(play, "rb").read(), play, random.Random(42), "text", 0.1, 8)
    nats = tokens = 0
    for w in ds.held_out():  # one window at a time, each weighted by its predicted tokens
        nats += engine.loss_only(model, [w]) * (len(w) - 1)
        tokens += len(w) - 1
    final = [r for r in records(run_dir) if "val_loss" in r][-1]
    assert final["val_windows"] == ds.num_held_out and final["val_tokens"] == tokens == 299
    assert final["val_chars"] == 299  # one character per token
    assert abs(final["val_loss"] - nats / tokens) < 1e-12
    assert abs(final["val_bpc"] - nats / tokens / math.log(2)) < 1e-12 and result["val_bpc"] == final["val_bpc"]
    evals = [r for r in records(run_dir) if "val_loss" in r]
    assert [(r["step"], r["val_windows"]) for r in evals] == [(4, 5), (8, 5), (12, 38)]


def test_bits_per_character_divide_by_the_characters_the_tokens_spell():
    # a tokenizer of two characters a token: half as many tokens, the same bits per character for the same nats
    assert training.held_out_bpc(2.0, 10, 20) == 2.0 * 10 / (math.log(2) * 20)
    assert abs(training.held_out_bpc(math.log(2), 1, 1) - 1.0) < 1e-15
    stream = io.StringIO()
    progress = console.Progress(stream, 0, 100, True)
    progress.val_loss, progress.val_bpc = 2.0, 2.0 / math.log(2)
    progress.last -= 10
    progress.update(50, 2.5)
    assert stream.getvalue().startswith("step 50/100 | loss 2.5000 | held-out 2.0000 (2.885 bpc) | ")


def test_ctrl_c_then_resume_is_exact_on_a_text(tmp_path, play, monkeypatch):
    straight_dir, split_dir = str(tmp_path / "straight"), str(tmp_path / "split")
    straight = training.train(small_text(play), out=io.StringIO(), run_dir=straight_dir)
    monkeypatch.setitem(speed.ENGINES, "fast", SigintAt(7))
    with pytest.raises(console.Interrupted, match="at step 7 of 12; checkpoint saved"):
        training.train(small_text(play), out=io.StringIO(), run_dir=split_dir)
    monkeypatch.undo()
    out = io.StringIO()
    resumed = training.resume(split_dir, {"format": "auto"}, out=out)
    assert "format: text (as the run began)" in out.getvalue()
    with open(os.path.join(straight_dir, runs.CHECKPOINT), "rb") as a, \
            open(os.path.join(split_dir, runs.CHECKPOINT), "rb") as b:
        assert a.read() == b.read()  # the windows drawn after the resume are the straight run's
    assert straight["losses"][7:] == resumed["losses"] and straight["samples"] == resumed["samples"]
    with pytest.raises(MicroGPTError, match="--format cannot change when resuming"):
        training.resume(split_dir, {"steps": 14, "format": "lines"}, out=io.StringIO())


def test_workers_and_the_scalar_engine_give_the_fast_engines_numbers_on_windows(tmp_path, play):
    one = training.train(small_text(play, steps=3, batch_size=20, num_samples=0), out=io.StringIO())
    two = training.train(small_text(play, steps=3, batch_size=20, num_samples=0, workers=2), out=io.StringIO())
    assert one["losses"] == two["losses"] and one["model"].params == two["model"].params
    assert one["val_loss"] == two["val_loss"]
    scalar = training.train(small_text(play, steps=3, batch_size=2, num_samples=0, engine="scalar"),
                            out=io.StringIO())
    fast = training.train(small_text(play, steps=3, batch_size=2, num_samples=0), out=io.StringIO())
    assert all(abs(a - b) < 1e-9 for a, b in zip(scalar["losses"], fast["losses"]))
    assert abs(scalar["val_loss"] - fast["val_loss"]) < 1e-9


def test_the_torch_engine_trains_on_windows_too(tmp_path, play):
    pytest.importorskip("torch")
    fast = training.train(small_text(play, steps=3, num_samples=0), out=io.StringIO())
    torch = training.train(small_text(play, steps=3, num_samples=0, engine="torch"), out=io.StringIO())
    assert all(abs(a - b) < 1e-9 for a, b in zip(fast["losses"], torch["losses"]))
    assert abs(fast["val_bpc"] - torch["val_bpc"]) < 1e-9


def test_a_text_run_keeps_line_breaks_in_its_checkpoint_and_its_report(tmp_path, play):
    run_dir = str(tmp_path / "run")
    training.train(small_text(play, num_samples=2), out=io.StringIO(), run_dir=run_dir)
    ck = checkpoint.load(os.path.join(run_dir, runs.CHECKPOINT))
    assert ck.config.format == "text" and "\n" in ck.vocab and ck.data["num_chars"] == 3000
    with open(os.path.join(run_dir, runs.CONFIG)) as f:
        assert json.load(f)["config"]["format"] == "text"  # auto is settled before anything is kept
    page = open(os.path.join(run_dir, "report.html"), encoding="utf-8").read()
    assert page.count('<pre class="passage">') == 2 and "bits per character" in page
    assert "hallucinated" not in page and "new: not in the training data" not in page


# --------------------------------------------------------------------------------------------------
# passages past the context

def reference_passage(model, tokenizer, rng, length, temperature, prompt):
    """The rule spelt out: each token from a fresh forward pass over the last block_size tokens."""
    B, context, out = model.config.block_size, [tokenizer.encode("\n")[0]] + tokenizer.encode(prompt), []
    for _ in range(length):
        logits = scalar_engine.decoder(model)
        for t in context[-B:]:
            row = logits(t)
        token = rng.choices(range(len(row)), weights=sample.next_token_probs(row, temperature))[0]
        out.append(token)
        context.append(token)
    return out


def test_a_passage_slides_its_window_as_the_plain_rule_does():
    tokenizer = data.Tokenizer(sorted(set("\nabcdefgh ")))
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=5), random.Random(3))
    for prompt in ("", "ab", "abcdefg"):  # shorter than the context, and longer
        mine = list(sample.continue_text(model, tokenizer, random.Random(5), 15, 0.8, prompt,
                                         decoder=engine.cached_decoder))
        assert mine == reference_passage(model, tokenizer, random.Random(5), 15, 0.8, prompt)


def test_sample_length_streams_a_passage_past_the_context(tmp_path, play, monkeypatch):
    run_dir = str(tmp_path / "run")
    training.train(small_text(play, num_samples=0), out=io.StringIO(), run_dir=run_dir)
    writes = []

    class Terminal(io.StringIO):
        def write(self, text):
            writes.append(text)
            return super().write(text)
    out = Terminal()
    from microgpt.tool import sampling
    texts = sampling.sample_checkpoint(os.path.join(run_dir, runs.CHECKPOINT), prompt="First", length=50, out=out)
    assert len(texts) == 1 and texts[0].startswith("First") and len(texts[0]) == 5 + 50
    lines = out.getvalue().split("\n")
    assert lines[1] == "sampling: num_samples=1 temperature=0.5 top_k=0 prompt='First' seed=checkpoint length=50"
    assert lines[2] == "--- sample 1 ---" and out.getvalue().endswith(texts[0] + "\n")
    assert len([w for w in writes if len(w) == 1]) >= 40  # printed as the tokens came, not at the end
    code, _, err = run_cli(["sample", "--run", run_dir, "--max-len", "5"], tmp_path)
    assert code == 1 and "--max-len is for a model of lines" in err


# --------------------------------------------------------------------------------------------------
# Tiny Shakespeare by name

def test_shakespeare_is_downloaded_verified_and_cached(http_server, tmp_path, monkeypatch):
    body = open(shakespeare_file(), "rb").read()
    cache = tmp_path / "cache"
    monkeypatch.setenv("MICROGPT_CACHE_DIR", str(cache))
    server = http_server({"/input.txt": body, "/bad.txt": body[:-1] + b"?"})
    monkeypatch.setenv("MICROGPT_SHAKESPEARE_URL", server.url("/bad.txt"))
    code, _, err = run_cli(["--data", "shakespeare"], tmp_path)
    said = err.splitlines()
    assert code == 1 and len(said) == 2 and said[0].startswith("downloading Tiny Shakespeare from ")
    assert "is not Tiny Shakespeare" in said[1] and "SHA-256" in said[1]
    assert not cache.exists() or os.listdir(str(cache)) == []
    monkeypatch.setenv("MICROGPT_SHAKESPEARE_URL", server.url("/input.txt"))
    assert download.resolve("shakespeare") == str(cache / "tinyshakespeare.txt")
    assert (cache / "tinyshakespeare.txt").read_bytes() == body and server.requests == ["/bad.txt", "/input.txt"]
    monkeypatch.setenv("MICROGPT_SHAKESPEARE_URL", closed_port_url("/input.txt"))  # offline: the cache serves
    assert download.resolve("shakespeare") == str(cache / "tinyshakespeare.txt")


def test_offline_without_a_cached_copy_is_one_error_line(tmp_path):
    code, out, err = run_cli(["--data", "shakespeare"], tmp_path)
    said = err.splitlines()  # the download's one line, then the error's
    assert code == 1 and len(said) == 2 and said[0].startswith("downloading Tiny Shakespeare from http://127.0.0.1")
    assert said[1].startswith("microgpt: error: could not download Tiny Shakespeare from http://127.0.0.1")
    assert "--data FILE" in err and not os.path.exists(str(tmp_path / "runs" / "shakespeare" / "checkpoint.json"))


def test_train_data_shakespeare_reads_the_whole_play_as_one_text(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copyfile(shakespeare_file(), str(cache / "tinyshakespeare.txt"))
    monkeypatch.setenv("MICROGPT_CACHE_DIR", str(cache))
    code, out, err = run_cli(["--data", "shakespeare", "--steps", "2", "--block-size", "48", "--n-embd", "8",
                              "--n-head", "2", "--val-fraction", "0.002", "--num-samples", "0", "--quiet"], tmp_path)
    assert code == 0, err
    # 88% of Shakespeare's lines fit 47 characters, but the play is one text whatever the context
    assert "format: text (auto: --data shakespeare is one continuous text)" in out
    assert "text: 1115394 characters; 1113164 tokens to train on, 2230 held out (47 windows of 49)" in out
    assert "vocab size: 66" in out and "run dir: runs/shakespeare" in out
    ck = checkpoint.load(str(tmp_path / "runs" / "shakespeare" / "checkpoint.json"))
    assert ck.config.data == "shakespeare" and ck.data["sha256"] == download.DATASETS["shakespeare"].sha256
    code, out, err = run_cli(["--resume", "runs/shakespeare", "--steps", "3", "--quiet", "--num-samples", "0"],
                             tmp_path)
    assert code == 0, err
