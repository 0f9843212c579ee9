"""Sampling: top-k against a softmax written out by hand, and `microgpt sample` on a trained checkpoint:
prompts, seeds, length limits, and the new/seen marks against the training split rebuilt independently."""

import io
import math
import os
import random

import pytest
from conftest import first_names

from microgpt.config import TrainConfig
from microgpt.sample import next_token_probs
from microgpt.tool import files, training
from microgpt.tool.cli import main


def test_top_k_is_a_softmax_over_the_k_likeliest_logits():
    logits = [0.3, -1.2, 2.5, 0.9, 2.4, -0.1]
    for t in (0.5, 1.0, 2.0):
        assert next_token_probs(logits, t, top_k=6) == next_token_probs(logits, t)  # all kept: the same bits
        probs = next_token_probs(logits, t, top_k=3)
        kept = [2, 4, 3]  # the three largest logits
        z = sum(math.exp(logits[i] / t) for i in kept)
        for i, p in enumerate(probs):
            assert p == 0.0 if i not in kept else abs(p - math.exp(logits[i] / t) / z) < 1e-15
    assert next_token_probs(logits, 1.0, top_k=1) == [0, 0, 1, 0, 0, 0]
    tied = next_token_probs([1.0, 2.0, 2.0, 0.0], 1.0, top_k=1)  # ties with the k-th are kept
    assert tied == [0.0, 0.5, 0.5, 0.0]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sample")
    data_path = first_names(folder, 400, "names400.txt")
    run_dir = str(folder / "run")
    cfg = TrainConfig(data=data_path, steps=60, batch_size=4, num_samples=0, quiet=True, eval_every=0)
    training.train(cfg, out=io.StringIO(), run_dir=run_dir)
    return run_dir, data_path


def sample(capsys, *flags):
    assert main(["sample"] + list(flags)) == 0, capsys.readouterr().err
    out = capsys.readouterr().out.splitlines()
    return [l.split(": ", 1)[1] for l in out if l.startswith("sample ")], out


def test_marks_say_which_samples_are_in_the_training_split(run, capsys):
    run_dir, data_path = run
    docs = files.load_docs(data_path)
    random.Random(42).shuffle(docs)
    train_docs = set(docs[:360])  # the held-out 10% is the shuffled tail
    samples, out = sample(capsys, "--run", run_dir, "--num-samples", "40", "--seed", "3", "--temperature", "0.8")
    names = []
    for s in samples:
        name, mark = s.rsplit("  ", 1)
        assert mark == ("(seen)" if name in train_docs else "(new)")
        names.append(name)
    new = sum(1 for n in names if n not in train_docs)
    assert 0 < new < 40  # the check above saw both kinds
    assert out[-1] == "new (not in the training data): %d of 40 (%.0f%%)" % (new, 100.0 * new / 40)


def test_prompt_seed_max_len_and_the_two_ways_to_name_a_checkpoint(run, capsys):
    run_dir, _ = run
    with_prompt, out = sample(capsys, "--run", run_dir, "--prompt", "ma", "--seed", "1", "--num-samples", "10")
    assert all(s.startswith("ma") for s in with_prompt)
    assert "prompt='ma' seed=1" in out[1]
    again, _ = sample(capsys, "--checkpoint", os.path.join(run_dir, "checkpoint.json"), "--prompt", "ma",
                      "--seed", "1", "--num-samples", "10")
    assert again == with_prompt
    short, _ = sample(capsys, "--run", run_dir, "--max-len", "3", "--seed", "2", "--temperature", "2")
    assert all(len(s.rsplit("  ", 1)[0]) <= 3 for s in short)
    # top-k 1 draws the likeliest token every time, whatever the temperature: greedy decoding
    greedy, _ = sample(capsys, "--run", run_dir, "--temperature", "0", "--num-samples", "3")
    top1, _ = sample(capsys, "--run", run_dir, "--top-k", "1", "--temperature", "1.5", "--num-samples", "3")
    assert greedy == top1 and len(set(greedy)) == 1


def test_novelty_is_unknown_when_the_data_file_changed(run, capsys, tmp_path):
    run_dir, data_path = run
    original = open(data_path, "rb").read()
    try:
        with open(data_path, "ab") as f:
            f.write(b"zzz\n")
        samples, out = sample(capsys, "--run", run_dir, "--num-samples", "3", "--seed", "1")
        assert not any(s.endswith(("(new)", "(seen)")) for s in samples)
        assert out[-1] == "new or seen: unknown, %s has changed since training" % data_path
    finally:
        with open(data_path, "wb") as f:
            f.write(original)
