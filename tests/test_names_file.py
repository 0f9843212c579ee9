"""The tests' one look for the names dataset (conftest.find_names): a good copy is found wherever the user has
it, a wrong one is refused, a download is verified and kept, and when the dataset cannot be had the failure is
one line that says how to provide it."""

import shutil

import pytest
from conftest import NamesMissing, closed_port_url, find_names

from microgpt.tool import download


@pytest.fixture
def good(names_path, tmp_path):
    path = str(tmp_path / "good.txt")
    shutil.copyfile(names_path, path)
    return path


@pytest.fixture
def bad(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("emma\nolivia\nava\n")
    return str(path)


def look(tmp_path, names_file, shared=None, url=None):
    """find_names with an empty cache and, unless given, no ../shared and a download address where nothing listens."""
    return find_names(names_file, str(tmp_path / "cache"), shared, url or closed_port_url())


def test_a_good_copy_is_found_and_a_wrong_one_passed_over(tmp_path, good, bad):
    assert look(tmp_path, good) == good
    assert look(tmp_path, good, shared=bad) == good
    assert look(tmp_path, bad, shared=good) == good


def test_without_a_good_copy_the_failure_is_one_line_that_says_how_to_provide_it(tmp_path, bad):
    with pytest.raises(NamesMissing) as e:
        look(tmp_path, bad, shared=bad)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith("the names dataset is needed: put it at %s, set MICROGPT_NAMES_FILE=/path/to/names.txt, "
                              "or allow its download (could not download the names dataset from http://127.0.0.1:"
                              % bad)
    assert "connection refused" in message and download.HINT not in message
    cached = tmp_path / "cache" / "names.txt"
    assert message.endswith("missing, or not its SHA-256, at: %s, %s, %s" % (bad, cached, bad))
    assert not (tmp_path / "cache").exists()


def test_a_download_is_verified_kept_in_the_cache_and_found_there_next_time(tmp_path, good, bad, http_server):
    with open(good, "rb") as f:
        server = http_server({"/names.txt": f.read(), "/wrong.txt": b"emma\n"})
    with pytest.raises(NamesMissing, match="not the names dataset"):
        look(tmp_path, bad, url=server.url("/wrong.txt"))
    path = look(tmp_path, bad, url=server.url("/names.txt"))
    assert path == str(tmp_path / "cache" / "names.txt") and download.is_cached(path)
    assert look(tmp_path, None) == path  # from the cache: the address now is a closed port
    assert server.requests == ["/wrong.txt", "/names.txt"]
