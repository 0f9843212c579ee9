"""The names dataset: where it is cached, and its download, against a local server on 127.0.0.1."""

import hashlib
import os

import pytest
from conftest import closed_port_url
from test_data import one_line_error

from microgpt.tool import download


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("MICROGPT_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert download.cache_dir() == str(tmp_path / "mine")
    monkeypatch.delenv("MICROGPT_CACHE_DIR")
    assert download.cache_dir() == os.path.join(str(tmp_path / "xdg"), "microgpt")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert download.cache_dir() == os.path.join(str(tmp_path / "home"), ".cache", "microgpt")


@pytest.fixture
def names_bytes(names_path):
    with open(names_path, "rb") as f:
        raw = f.read()
    assert hashlib.sha256(raw).hexdigest() == download.NAMES_SHA256
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
    path = download.ensure_names(url=server.url("/names.txt"), log=logged.append)
    assert path == str(cache / "names.txt")
    assert (cache / "names.txt").read_bytes() == names_bytes
    assert listing(cache) == ["names.txt"]  # no temporary file left behind
    assert len(logged) == 1 and server.url("/names.txt") in logged[0]
    # a good cached copy is used as it is: no second request
    assert download.ensure_names(url=server.url("/names.txt")) == path
    assert server.requests == ["/names.txt"]


def test_url_from_environment(http_server, names_bytes, cache, monkeypatch):
    server = http_server({"/mirror/names.txt": names_bytes})
    monkeypatch.setenv("MICROGPT_NAMES_URL", server.url("/mirror/names.txt"))
    assert download.ensure_names() == str(cache / "names.txt")
    assert server.requests == ["/mirror/names.txt"]


def test_good_cache_is_not_downloaded_again(names_bytes, cache):
    cache.mkdir()
    (cache / "names.txt").write_bytes(names_bytes)
    # nothing listens at that address, so any attempt to download would fail
    assert download.ensure_names(url=closed_port_url()) == str(cache / "names.txt")


def test_corrupt_cache_is_replaced(http_server, names_bytes, cache):
    cache.mkdir()
    (cache / "names.txt").write_bytes(names_bytes[:1000])  # e.g. a download cut short by another tool
    server = http_server({"/names.txt": names_bytes})
    assert download.ensure_names(url=server.url("/names.txt")) == str(cache / "names.txt")
    assert (cache / "names.txt").read_bytes() == names_bytes
    assert listing(cache) == ["names.txt"]


def download_error(url):
    message = one_line_error(download.ensure_names, url)
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


def test_unwritable_cache_is_one_line(http_server, names_bytes, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    monkeypatch.setenv("MICROGPT_CACHE_DIR", str(blocker / "cache"))  # a folder inside a file: cannot exist
    server = http_server({"/names.txt": names_bytes})
    message = one_line_error(download.ensure_names, server.url("/names.txt"))
    assert "MICROGPT_CACHE_DIR" in message and "--data" in message


def test_a_failed_download_keeps_the_cached_file(http_server, cache):
    cache.mkdir()
    (cache / "names.txt").write_bytes(b"not the names\n")
    server = http_server({})
    assert "404" in download_error(server.url("/names.txt"))
    assert listing(cache) == ["names.txt"] and (cache / "names.txt").read_bytes() == b"not the names\n"


def test_a_cached_file_that_is_not_the_dataset_is_replaced_with_a_warning(http_server, names_bytes, cache, capsys):
    cache.mkdir()
    wrong = bytearray(names_bytes)
    wrong[1000] ^= 1  # the right size, one bit off: only its SHA-256 tells
    (cache / "names.txt").write_bytes(bytes(wrong))
    server = http_server({"/names.txt": names_bytes})
    assert download.ensure_names(url=server.url("/names.txt")) == str(cache / "names.txt")
    assert (cache / "names.txt").read_bytes() == names_bytes
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("warning: %s is not the names dataset (its SHA-256 is %s, where the "
                                               "original's is %s); downloading it again"
                                               % (cache / "names.txt", hashlib.sha256(wrong).hexdigest(),
                                                  download.NAMES_SHA256)), err
