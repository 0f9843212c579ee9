"""Byte-level BPE (microgpt/bpe.py): the merge rule against a plain recount-everything reference, round trips
of any text, byte fallback, and the tokenizer stored in and restored from a run."""

import io
import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_checkpoint import make_checkpoint
from test_reference_run import run_cli
from test_train import SigintAt

from microgpt import bpe, speed
from microgpt.bpe import BPETokenizer, learn_merges
from microgpt.config import TrainConfig
from microgpt.data import TextDataset, Tokenizer
from microgpt.errors import MicroGPTError
from microgpt.tool import checkpoint, console, runs, training

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAKESPEARE = os.path.join(os.path.dirname(ROOT), "shared", "data", "tinyshakespeare.txt")
MIXED = ["First Citizen: we are accounted poor citizens", "床前明月光，疑是地上霜。举头望明月，低头思故乡。",
         "def f(x):\n    return x * x  # 😀👩\u200d💻", "naïve café, Zoë's façade", "aaaaaaa bbbb aaaa"]


# --------------------------------------------------------------------------------------------------
# the reference: the rule as the docstring states it, recounting everything after every merge

def replace(seq, pair, new):
    """`seq` with each occurrence of `pair` replaced by `new`, from left to right."""
    out, i = [], 0
    while i < len(seq):
        if i + 1 < len(seq) and (seq[i], seq[i + 1]) == pair:
            out.append(new)
            i += 2
        else:
            out.append(seq[i])
            i += 1
    return out


def reference_merges(docs, n_merges):
    seqs, merges = [list(doc.encode("utf-8")) for doc in docs], []
    while len(merges) < n_merges:
        counts = {}
        for seq in seqs:
            for pair in zip(seq, seq[1:]):
                counts[pair] = counts.get(pair, 0) + 1
        if not counts or max(counts.values()) < 2:
            break
        best = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[0][0]
        seqs = [replace(seq, best, 256 + len(merges)) for seq in seqs]
        merges.append(best)
    return merges


def reference_encode(text, merges):
    seq = list(text.encode("utf-8"))
    for i, pair in enumerate(merges):
        seq = replace(seq, pair, 256 + i)
    return seq


small_docs = st.lists(st.text(alphabet="ab c\n€李", max_size=40), min_size=1, max_size=4)


@given(small_docs, st.integers(0, 30))
def test_merges_and_encoding_match_the_reference(docs, n_merges):
    merges = learn_merges(docs, n_merges)
    assert merges == reference_merges(docs, n_merges)
    tok = BPETokenizer(merges)
    for doc in docs + ["".join(docs), "ba€€ ca李李"]:
        assert tok.encode(doc) == reference_encode(doc, merges)


def test_the_reference_on_real_text():
    """The first 12,000 characters of Tiny Shakespeare, or of our mixed texts without it: 60 merges alike."""
    if os.path.exists(SHAKESPEARE):
        with open(SHAKESPEARE, encoding="utf-8") as f:
            docs = [f.read(12000)]
    else:
        docs = MIXED * 20
    merges = learn_merges(docs, 60)
    assert len(merges) == 60 and merges == reference_merges(docs, 60)
    text = docs[0][:3000]
    assert BPETokenizer(merges).encode(text) == reference_encode(text, merges)


def test_the_rule_by_hand():
    # "abab cdcd": (a, b) and (c, d) both occur twice; the tie goes to the smaller pair, (a, b)
    assert learn_merges(["abab cdcd"], 2) == [(97, 98), (99, 100)]
    # overlapping: "aaa" holds (a, a) twice, but merging it from the left leaves "Xa"
    assert learn_merges(["aaa"], 5) == [(97, 97)]
    assert BPETokenizer([(97, 97)]).encode("aaaaa") == [256, 256, 97]
    assert learn_merges(["abcd"], 5) == []  # no pair occurs twice: nothing to gain
    assert learn_merges(["ab", "ab", "a", "b"], 5) == [(97, 98)]  # pairs never span two documents


# --------------------------------------------------------------------------------------------------
# the tokenizer

TRAINED = BPETokenizer.train(MIXED * 3, 320)


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",))))
def test_any_text_round_trips(text):
    ids = TRAINED.encode(text)
    assert all(0 <= i < TRAINED.bos for i in ids)
    assert TRAINED.decode(ids) == text
    assert TRAINED.decode(TRAINED.frame(text)) == text


@given(st.text(alphabet="李😀é \n", max_size=30))
def test_round_trips_in_scripts_it_learnt(text):
    assert TRAINED.decode(TRAINED.encode(text)) == text


def test_sizes_and_bos():
    assert TRAINED.vocab_size == 320 and TRAINED.bos == 319 and len(TRAINED.merges) == 63
    tok = BPETokenizer([])
    assert tok.vocab_size == 257 and tok.encode("hé") == [104, 0xC3, 0xA9]
    assert tok.frame("a") == [256, 97, 256]


def test_compresses_what_it_learnt():
    text = MIXED[0]
    assert len(TRAINED.encode(text)) < len(text) // 2


def test_byte_fallback_for_unseen_characters():
    tok = BPETokenizer.train(["the cat sat on the mat"] * 5, 280)
    assert tok.encode("李😀") == list("李😀".encode("utf-8"))
    assert tok.decode(tok.encode("the 李 cat😀")) == "the 李 cat😀"


def test_a_lone_surrogate_is_one_line(bpe_run, tmp_path):
    with pytest.raises(MicroGPTError, match=r"U\+DCFF, a lone surrogate"):
        TRAINED.encode("a\udcffb")  # what a terminal's byte 0xFF becomes under surrogateescape
    code, out, err = run_cli(["sample", "--run", bpe_run[0], "--prompt", "a\udcffb"], tmp_path)
    assert code == 1 and err.startswith("microgpt: error: ") and "U+DCFF" in err and err.count("\n") == 1, err


def test_decoding_half_a_character_does_not_raise():
    ids = TRAINED.encode("李")
    assert len(ids) >= 1
    broken = list("李".encode("utf-8"))[:2]  # what sampling can write: the first two bytes of three
    assert TRAINED.decode(broken) == "\ufffd"
    assert TRAINED.decode([ord("a")] + broken + [ord("b")]) == "a\ufffdb"


def test_bits_per_character_count_the_characters_not_the_windows_halves():
    # pure bytes (no merges) and windows of 4 tokens: nearly every window ends inside a 3-byte character
    text = "床前明月光，疑是地上霜。" * 40
    dataset = TextDataset(text.encode("utf-8"), "poem.txt", 0.25, 4, tokenizer=BPETokenizer([]))
    windows = dataset.held_out()
    assert len(windows) == 90 and len(dataset.val_text) == 120
    # the windows predict every held-out token but the first: the text but the first byte, whose character's
    # other two bytes count as two U+FFFD (decoding each window apart counted 209)
    assert dataset.characters(windows) == len(dataset.tokenizer.decode(dataset.val_tokens[1:])) == 121


def test_deterministic():
    assert BPETokenizer.train(MIXED * 3, 320).merges == TRAINED.merges
    assert BPETokenizer(TRAINED.merges).encode(MIXED[1]) == TRAINED.encode(MIXED[1])


def test_progress_is_reported():
    seen = []
    BPETokenizer.train(MIXED * 3, 257 + 40, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(32, 40), (40, 40)]


@pytest.mark.parametrize("merges, message", [
    ([(97, 256)], "merge 0 must be a pair of tokens below 256"),
    ([(97, 98), (256, 300)], "merge 1 must be a pair of tokens below 257"),
    ([(97, 98), (97, 98)], "merge 1 repeats merge 0"),
    ([(97,)], "merge 0 must be a pair"),
    ([[97, True]], "merge 0 must be a pair"),
    ([(-1, 97)], "merge 0 must be a pair"),
    (["ab"], "merge 0 must be a pair"),
])
def test_damaged_merges_are_refused(merges, message):
    with pytest.raises(MicroGPTError, match=message):
        BPETokenizer(merges)


def test_too_small_a_vocabulary():
    with pytest.raises(MicroGPTError, match="at least 257"):
        BPETokenizer.train(["abc"], 256)


# --------------------------------------------------------------------------------------------------
# a BPE run: its merges kept in the checkpoint, used again (never learnt again), refused when damaged

def write_text(folder):
    path = os.path.join(str(folder), "mixed.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(MIXED * 4) + "\n")
    return path


def bpe_config(path, **kw):
    settings = dict(data=path, tokenizer="bpe", vocab_size=300, block_size=8, steps=6, batch_size=2, eval_every=3,
                    eval_docs=3, save_every=2, num_samples=2, quiet=True)
    settings.update(kw)
    return TrainConfig(**settings)


@pytest.mark.parametrize("format", ["text", "lines"])
def test_a_bpe_run_resumes_to_the_bit(tmp_path, monkeypatch, format):
    path, straight_dir, split_dir = write_text(tmp_path), str(tmp_path / "straight"), str(tmp_path / "split")
    straight = training.train(bpe_config(path, format=format), out=io.StringIO(), run_dir=straight_dir)
    monkeypatch.setitem(speed.ENGINES, "fast", SigintAt(5))
    with pytest.raises(console.Interrupted, match="at step 5 of 6; checkpoint saved"):
        training.train(bpe_config(path, format=format), out=io.StringIO(), run_dir=split_dir)
    monkeypatch.undo()

    def learnt_again(*args, **kwargs):
        raise AssertionError("a resume must take the checkpoint's merges, not learn them again")
    monkeypatch.setattr(bpe.BPETokenizer, "train", learnt_again)
    resumed = training.resume(split_dir, out=io.StringIO())
    with open(os.path.join(straight_dir, runs.CHECKPOINT), "rb") as a, \
            open(os.path.join(split_dir, runs.CHECKPOINT), "rb") as b:
        assert a.read() == b.read()
    assert straight["losses"][5:] == resumed["losses"] and straight["samples"] == resumed["samples"]
    ck = checkpoint.load(os.path.join(split_dir, runs.CHECKPOINT))
    tokenizer = straight["tokenizer"]
    assert ck.vocab == [] and ck.merges == [list(pair) for pair in tokenizer.merges] and len(ck.merges) == 43
    assert ck.model.vocab_size == 300 and checkpoint.tokenizer_of(ck).encode(MIXED[1]) == tokenizer.encode(MIXED[1])


@pytest.fixture(scope="module")
def bpe_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bpe")
    run_dir = str(folder / "run")
    training.train(bpe_config(write_text(folder), format="lines", block_size=16, steps=2, num_samples=0),
                   out=io.StringIO(), run_dir=run_dir)
    with open(os.path.join(run_dir, runs.CHECKPOINT), encoding="utf-8") as f:
        return run_dir, json.load(f)


def test_sample_report_and_export_use_the_merges(bpe_run, tmp_path):
    run_dir, doc = bpe_run
    code, out, err = run_cli(["sample", "--run", run_dir, "--num-samples", "2", "--prompt", "床前😀"], tmp_path)
    assert code == 0, err
    assert [line[len("sample  1: "):].startswith("床前😀") for line in out if line.startswith("sample ")] == [True] * 2
    code, out, err = run_cli(["export", run_dir, "--out", str(tmp_path / "m.safetensors")], tmp_path)
    assert code == 0, err
    with open(str(tmp_path / "m.safetensors"), "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        meta = json.loads(f.read(n))["__metadata__"]
    assert meta["tokenizer"] == "bpe" and json.loads(meta["merges"]) == doc["merges"] and meta["bos"] == "299"
    code, out, err = run_cli(["report", run_dir], tmp_path)
    assert code == 0, err
    with open(os.path.join(run_dir, "report.html"), encoding="utf-8") as f:
        assert "300 tokens: the 256 bytes, 43 BPE merges" in f.read()


def saved(tmp_path, doc):
    path = str(tmp_path / "checkpoint.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    return path


def doubling(doc):  # each merge the previous token twice: token 256 + i spells 2**(i + 1) bytes
    doc["merges"] = [[97, 97]] + [[256 + i, 256 + i] for i in range(len(doc["merges"]) - 1)]


DAMAGES = {
    "a later token": (lambda d: d["merges"].__setitem__(0, [97, 256]), "merges[0] is [97, 256], not a pair of "
                                                                        "earlier tokens (each below 256)"),
    "not a pair": (lambda d: d["merges"].__setitem__(3, [5]), "merges[3] is [5], not a pair"),
    "a string": (lambda d: d["merges"].__setitem__(3, "ab"), "merges[3] is \"ab\", not a pair"),
    "not a list": (lambda d: d.__setitem__("merges", {"a": 1}), "merges must be a list"),
    "one missing": (lambda d: d["merges"].pop(), "merges has 42 pairs, so vocab_size should be 299 (256 bytes, "
                                                 "the merges and BOS), but the model says 300"),
    "repeated": (lambda d: d["merges"].__setitem__(5, d["merges"][4]), "merges: merge 5 repeats merge 4"),
    "absent": (lambda d: d.pop("merges"), "config.tokenizer is bpe, but the checkpoint has no merges"),
    "characters too": (lambda d: d.__setitem__("vocab", ["a"]), "vocab must be [] with a BPE tokenizer"),
    "doubling": (doubling, "merges spell more than"),
    "said to be char": (lambda d: d["config"].update(tokenizer="char", vocab_size=0),
                        "merges are for a BPE tokenizer, but config.tokenizer is char"),
}


@pytest.mark.parametrize("name", sorted(DAMAGES))
def test_damaged_merges_are_one_line(bpe_run, tmp_path, name):
    damage, message = DAMAGES[name]
    doc = json.loads(json.dumps(bpe_run[1]))
    damage(doc)
    path = saved(tmp_path, doc)
    with pytest.raises(MicroGPTError) as e:
        checkpoint.load(path)
    assert message in str(e.value) and "\n" not in str(e.value)
    code, out, err = run_cli(["sample", "--checkpoint", path], tmp_path)
    assert code == 1 and err.startswith("microgpt: error: %s: " % path) and err.count("\n") == 1, err


def test_a_checkpoint_from_before_bpe_loads_as_char(tmp_path):
    ck = make_checkpoint()
    doc = json.loads(checkpoint.to_json(ck))
    assert "merges" not in doc and doc["config"]["tokenizer"] == "char"
    del doc["config"]["tokenizer"], doc["config"]["vocab_size"]  # as a checkpoint written before them
    back = checkpoint.load(saved(tmp_path, doc))
    assert back.merges is None and back.config.tokenizer == "char" and back.config.vocab_size == 0
    tokenizer = checkpoint.tokenizer_of(back)
    assert isinstance(tokenizer, Tokenizer) and tokenizer.chars == list("abcd")


def test_the_flags(tmp_path):
    path = write_text(tmp_path)
    code, out, err = run_cli(["--data", path, "--vocab-size", "300", "--steps", "1"], tmp_path)
    assert code == 2 and "vocab_size is for tokenizer bpe" in err and err.count("\n") == 1
    code, out, err = run_cli(["--data", path, "--tokenizer", "bpe", "--vocab-size", "256"], tmp_path)
    assert code == 2 and "--vocab-size" in err and "at least 257" in err
    code, out, err = run_cli(["--data", path, "--tokenizer", "bpe", "--steps", "1", "--num-samples", "0",
                              "--eval-every", "0", "--block-size", "8", "--format", "lines"], tmp_path)
    assert code == 0, err
    assert "vocab_size=512" in out[0] and any(line.startswith("tokenizer: byte-level BPE: 256 bytes, ") and
                                               "not the 512 asked for" in line for line in out)
