"""Byte-level BPE (microgpt/bpe.py): the merge rule against a plain recount-everything reference, round trips
of any text, byte fallback, and the tokenizer stored in and restored from a run."""

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microgpt.bpe import BPETokenizer, learn_merges
from microgpt.errors import MicroGPTError

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


def test_decoding_half_a_character_does_not_raise():
    ids = TRAINED.encode("李")
    assert len(ids) >= 1
    broken = list("李".encode("utf-8"))[:2]  # what sampling can write: the first two bytes of three
    assert TRAINED.decode(broken) == "\ufffd"
    assert TRAINED.decode([ord("a")] + broken + [ord("b")]) == "a\ufffdb"


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
