"""The tokenizer, the document loader, the held-out split and the Dataset every command uses."""

import os
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microgpt import data
from microgpt.errors import MicroGPTError

# --------------------------------------------------------------------------------------------------
# tokenizer

UNICODE_DOCS = ["李小龙", "王芳", "José", "Zoë", "Ōtani", "naïve", "😀smile", "👩\u200d💻", "ÅSA", "a"]


def test_unicode_round_trip_and_bos():
    tok = data.Tokenizer.from_docs(UNICODE_DOCS)
    assert tok.chars == sorted(set("".join(UNICODE_DOCS)))
    assert tok.bos == len(tok.chars) and tok.vocab_size == len(tok.chars) + 1
    for doc in UNICODE_DOCS:
        ids = tok.encode(doc)
        assert len(ids) == len(doc)  # one token per code point, emoji and CJK included
        assert all(0 <= i < tok.bos for i in ids)
        assert tok.decode(ids) == doc
        framed = tok.frame(doc)
        assert framed == [tok.bos] + ids + [tok.bos]
        assert tok.decode(framed) == doc  # BOS is a boundary, never text


def test_names_vocab_is_27(names_path):
    tok = data.Tokenizer.from_docs(data.load_docs(names_path))
    assert tok.chars == list("abcdefghijklmnopqrstuvwxyz")
    assert tok.bos == 26 and tok.vocab_size == 27
    assert tok.frame("emma") == [26, 4, 12, 12, 0, 26]


@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=5))
def test_round_trip_any_text(docs):
    tok = data.Tokenizer.from_docs(docs)
    for doc in docs:
        assert tok.decode(tok.encode(doc)) == doc


def test_unknown_character_is_named():
    tok = data.Tokenizer.from_docs(["abc"])
    with pytest.raises(MicroGPTError) as e:
        tok.encode("abé")
    assert "'é'" in str(e.value) and "U+00E9" in str(e.value)
    with pytest.raises(MicroGPTError, match="'李'"):
        tok.encode("李")


# --------------------------------------------------------------------------------------------------
# documents

def write(tmp_path, raw, name="docs.txt"):
    path = tmp_path / name
    path.write_bytes(raw)
    return str(path)


def one_line_error(fn, *args):
    with pytest.raises(MicroGPTError) as e:
        fn(*args)
    message = str(e.value)
    assert message and "\n" not in message
    return message


def test_load_docs_strips_and_drops_blank_lines(tmp_path):
    raw = b"  emma \n\n\tolivia\t\n   \nava\n\n"
    assert data.load_docs(write(tmp_path, raw)) == ["emma", "olivia", "ava"]


def test_load_docs_crlf_and_bom(tmp_path):
    raw = b"\xef\xbb\xbfemma\r\nolivia\r\n\r\nava"
    assert data.load_docs(write(tmp_path, raw)) == ["emma", "olivia", "ava"]


def test_load_docs_unicode(tmp_path):
    text = "\n".join(UNICODE_DOCS) + "\n"
    assert data.load_docs(write(tmp_path, text.encode("utf-8"))) == UNICODE_DOCS


def test_load_docs_keeps_file_order_and_duplicates(names_path):
    docs = data.load_docs(names_path)
    assert len(docs) == 32033  # the reference's "num docs"
    assert len(set(docs)) == 29494  # repeated names stay: they are documents too
    assert docs[:3] == ["emma", "olivia", "ava"]


def test_non_utf8_names_the_line(tmp_path):
    path = write(tmp_path, "emma\nolivia\nJos\xe9\nava\n".encode("latin-1"))
    message = one_line_error(data.load_docs, path)
    assert "line 3" in message and path in message and "UTF-8" in message


@pytest.mark.parametrize("raw", [b"", b"\n", b"  \n\t\r\n\n", b"\xef\xbb\xbf"])
def test_empty_or_blank_file(tmp_path, raw):
    path = write(tmp_path, raw)
    assert path in one_line_error(data.load_docs, path)


def test_a_dataset_is_the_file_shuffled_by_the_seed_then_split(names_path):
    rng = random.Random(42)
    ds = data.Dataset(names_path, rng, 0.1)
    docs = data.load_docs(names_path)
    expected = random.Random(42)
    expected.shuffle(docs)
    assert ds.docs == docs and ds.tokenizer.chars == list("abcdefghijklmnopqrstuvwxyz")
    assert ds.train_docs == docs[:-3203] and ds.val_docs == docs[-3203:]
    assert rng.getstate() == expected.getstate()  # the stream goes on from where the shuffle left it
    assert ds.info() == {"path": os.path.abspath(names_path), "sha256": data.NAMES_SHA256, "num_docs": 32033}


def test_batches_take_the_next_documents_in_order_and_wrap():
    docs = ["d%d" % i for i in range(5)]
    assert data.batch_docs(docs, 0, 1) == ["d0"] and data.batch_docs(docs, 7, 1) == ["d2"]
    assert data.batch_docs(docs, 1, 3) == ["d3", "d4", "d0"]


def test_split_docs_holds_out_the_end():
    docs = ["d%d" % i for i in range(10)]
    assert data.split_docs(docs, 0.2) == (docs[:8], docs[8:])
    assert data.split_docs(docs, 0.0) == (docs, [])
