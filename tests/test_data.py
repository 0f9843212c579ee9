"""The tokenizer, the document loader, the held-out split and the Dataset every command uses."""

import os
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microgpt import data
from microgpt.errors import MicroGPTError
from microgpt.tool import download, files

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
    tok = data.Tokenizer.from_docs(files.load_docs(names_path))
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
    assert files.load_docs(write(tmp_path, raw)) == ["emma", "olivia", "ava"]


def test_load_docs_crlf_and_bom(tmp_path):
    raw = b"\xef\xbb\xbfemma\r\nolivia\r\n\r\nava"
    assert files.load_docs(write(tmp_path, raw)) == ["emma", "olivia", "ava"]


def test_load_docs_unicode(tmp_path):
    text = "\n".join(UNICODE_DOCS) + "\n"
    assert files.load_docs(write(tmp_path, text.encode("utf-8"))) == UNICODE_DOCS


def test_load_docs_keeps_file_order_and_duplicates(names_path):
    docs = files.load_docs(names_path)
    assert len(docs) == 32033  # the reference's "num docs"
    assert len(set(docs)) == 29494  # repeated names stay: they are documents too
    assert docs[:3] == ["emma", "olivia", "ava"]


def test_non_utf8_names_the_line(tmp_path):
    path = write(tmp_path, "emma\nolivia\nJos\xe9\nava\n".encode("latin-1"))
    message = one_line_error(files.load_docs, path)
    assert "line 3" in message and path in message and "UTF-8" in message


@pytest.mark.parametrize("raw", [b"", b"\n", b"  \n\t\r\n\n", b"\xef\xbb\xbf"])
def test_empty_or_blank_file(tmp_path, raw):
    path = write(tmp_path, raw)
    assert path in one_line_error(files.load_docs, path)


def test_a_dataset_is_the_file_shuffled_by_the_seed_then_split(names_path):
    rng = random.Random(42)
    ds = files.read_dataset(names_path, rng, 0.1)
    docs = files.load_docs(names_path)
    expected = random.Random(42)
    expected.shuffle(docs)
    assert ds.docs == docs and ds.tokenizer.chars == list("abcdefghijklmnopqrstuvwxyz")
    assert ds.train_docs == docs[:-3203] and ds.val_docs == docs[-3203:]
    assert rng.getstate() == expected.getstate()  # the stream goes on from where the shuffle left it
    assert ds.info() == {"path": os.path.abspath(names_path), "sha256": download.NAMES_SHA256, "num_docs": 32033}


def test_batches_take_the_next_documents_in_order_and_wrap():
    docs = ["d%d" % i for i in range(5)]
    assert data.batch_docs(docs, 0, 1) == ["d0"] and data.batch_docs(docs, 7, 1) == ["d2"]
    assert data.batch_docs(docs, 1, 3) == ["d3", "d4", "d0"]


def test_split_docs_holds_out_the_end():
    docs = ["d%d" % i for i in range(10)]
    assert data.split_docs(docs, 0.2) == (docs[:8], docs[8:])
    assert data.split_docs(docs, 0.0) == (docs, [])


@pytest.mark.parametrize("raw", [b"emma\rolivia\r\rava\r", b"emma\r\nolivia\n\rava", b"emma\rolivia\n\r\nava"])
def test_old_mac_line_endings_are_lines_too(tmp_path, raw):
    docs = files.load_docs(write(tmp_path, raw))
    assert docs == ["emma", "olivia", "ava"]  # no document ever holds a raw "\r"


def test_line_numbers_count_every_kind_of_line_break(tmp_path):
    path = write(tmp_path, b"emma\rolivia\r\nava\rJos\xe9\n")
    assert one_line_error(files.load_docs, path) == \
        "%s line 4 is not valid UTF-8 (byte 4); save the file as UTF-8" % path


@pytest.mark.parametrize("raw, line", [(b"\x00\x00\x00\x00", 1), (b"emma\nolivia\nav\x00a\n", 3),
                                       (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", 1)])
def test_a_binary_file_that_happens_to_be_utf8(tmp_path, raw, line):
    path = write(tmp_path, raw)
    assert one_line_error(files.load_docs, path) == ("%s line %d holds a NUL byte: it is a binary file, not text; "
                                                    "pass a UTF-8 text file" % (path, line))


@pytest.mark.parametrize("n, fraction, enough", [(5, 0.1, 10), (1, 0.5, 2), (9, 0.1, 10), (3, 0.3, 4), (99, 0.01, 100)])
def test_a_share_that_holds_out_no_document_is_refused(n, fraction, enough):
    docs = ["d%d" % i for i in range(n)]
    message = one_line_error(data.split_docs, docs, fraction, "tiny.txt")
    assert message == ("tiny.txt has %d document%s: --val-fraction %s holds out none of them (that takes %d or more); "
                       "pass --val-fraction 0 to train without a held-out loss, or a larger --val-fraction"
                       % (n, "s" * (n != 1), fraction, enough))
    bigger = ["d%d" % i for i in range(enough)]
    assert len(data.split_docs(bigger, fraction)[1]) == 1  # the count it names is the least that holds one out
    assert data.split_docs(docs, fraction, need_held_out=False) == (docs, [])  # an old run goes on without one
    assert data.split_docs(docs, 0.0) == (docs, [])


@given(st.integers(1, 300), st.floats(0.001, 0.99))
def test_the_count_named_is_the_least_that_holds_out_one(n, fraction):
    docs = list(range(n))
    if int(n * fraction) >= 1:
        train, val = data.split_docs(docs, fraction)
        assert val and train and train + val == docs
    else:
        enough = int(one_line_error(data.split_docs, docs, fraction).split("that takes ")[1].split()[0])
        assert int(enough * fraction) >= 1 and int((enough - 1) * fraction) == 0


def test_a_held_out_share_too_small_for_any_file_is_one_line():
    # 1/val_fraction overflows to inf: the message must still be a message (it was an OverflowError)
    for fraction in (1e-320, 5e-324, 1e-13):
        with pytest.raises(MicroGPTError, match="more documents than any file holds"):
            data.split_docs(["ann", "bob"], fraction)
    with pytest.raises(MicroGPTError, match=r"that takes 10 or more\)"):
        data.split_docs(["ann", "bob"], 0.1)
