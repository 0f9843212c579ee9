"""The tokenizer, the document loader and the download of the names dataset (against a local server)."""

import hashlib
import os

import pytest
from conftest import closed_port_url
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


def test_directory(tmp_path):
    assert "directory" in one_line_error(data.load_docs, str(tmp_path))


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.txt")
    assert path in one_line_error(data.load_docs, path)


def test_split_docs_holds_out_the_end():
    docs = ["d%d" % i for i in range(10)]
    assert data.split_docs(docs, 0.2) == (docs[:8], docs[8:])
    assert data.split_docs(docs, 0.0) == (docs, [])


# --------------------------------------------------------------------------------------------------
# the names dataset: cache folder and download

def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("MICROGPT_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.cache_dir() == str(tmp_path / "mine")
    monkeypatch.delenv("MICROGPT_CACHE_DIR")
    assert data.cache_dir() == os.path.join(str(tmp_path / "xdg"), "microgpt")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.cache_dir() == os.path.join(str(tmp_path / "home"), ".cache", "microgpt")


@pytest.fixture
def names_bytes(names_path):
    with open(names_path, "rb") as f:
        raw = f.read()
    assert hashlib.sha256(raw).hexdigest() == data.NAMES_SHA256
    return raw


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("MICROGPT_CACHE_DIR", str(folder))
    return folder


def listing(folder):
    return sorted(os.listdir(str(folder))) if folder.exists() else []


def test_download_verifies_and_caches(http_server, names_bytes, cache):
    server = http_server({"/names.txt": names_bytes})
    logged = []
    path = data.ensure_names(url=server.url("/names.txt"), log=logged.append)
    assert path == str(cache / "names.txt")
    assert (cache / "names.txt").read_bytes() == names_bytes
    assert listing(cache) == ["names.txt"]  # no temporary file left behind
    assert len(logged) == 1 and server.url("/names.txt") in logged[0]
    # a good cached copy is used as it is: no second request
    assert data.ensure_names(url=server.url("/names.txt")) == path
    assert server.requests == ["/names.txt"]


def test_url_from_environment(http_server, names_bytes, cache, monkeypatch):
    server = http_server({"/mirror/names.txt": names_bytes})
    monkeypatch.setenv("MICROGPT_NAMES_URL", server.url("/mirror/names.txt"))
    assert data.ensure_names() == str(cache / "names.txt")
    assert server.requests == ["/mirror/names.txt"]


def test_good_cache_is_not_downloaded_again(names_bytes, cache):
    cache.mkdir()
    (cache / "names.txt").write_bytes(names_bytes)
    # nothing listens at that address, so any attempt to download would fail
    assert data.ensure_names(url=closed_port_url()) == str(cache / "names.txt")


def test_corrupt_cache_is_replaced(http_server, names_bytes, cache):
    cache.mkdir()
    (cache / "names.txt").write_bytes(names_bytes[:1000])  # e.g. a download cut short by another tool
    server = http_server({"/names.txt": names_bytes})
    assert data.ensure_names(url=server.url("/names.txt")) == str(cache / "names.txt")
    assert (cache / "names.txt").read_bytes() == names_bytes
    assert listing(cache) == ["names.txt"]


def download_error(url):
    message = one_line_error(data.ensure_names, url)
    assert "--data" in message
    return message


def test_checksum_mismatch(http_server, names_bytes, cache):
    server = http_server({"/names.txt": names_bytes.replace(b"emma", b"emmy", 1)})
    message = download_error(server.url("/names.txt"))
    assert "SHA-256" in message
    assert listing(cache) == []  # nothing unverified is kept


def test_http_404(http_server, cache):
    server = http_server({})
    assert "404" in download_error(server.url("/names.txt"))
    assert listing(cache) == []


def test_connection_refused(cache):
    url = closed_port_url()
    assert url in download_error(url)
    assert listing(cache) == []


def test_connection_lost_mid_download(http_server, names_bytes, cache):
    server = http_server({"/truncated": names_bytes[:5000]})
    download_error(server.url("/truncated"))
    assert listing(cache) == []


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "names.txt"
    path.write_bytes(b"old")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        data.write_atomic(str(path), b"new and longer")
    assert path.read_bytes() == b"old"
    assert listing(tmp_path) == ["names.txt"]


def test_unwritable_cache_is_one_line(http_server, names_bytes, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    monkeypatch.setenv("MICROGPT_CACHE_DIR", str(blocker / "cache"))  # a folder inside a file: cannot exist
    server = http_server({"/names.txt": names_bytes})
    message = one_line_error(data.ensure_names, server.url("/names.txt"))
    assert "MICROGPT_CACHE_DIR" in message and "--data" in message
