"""File plumbing: atomic writes that keep the old file when anything fails, and reading a user's file."""

import json
import os

import pytest
from test_data import one_line_error

from microgpt.tool import files
from microgpt.tool.cli import main


def listing(folder):
    return sorted(os.listdir(str(folder)))


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "names.txt"
    path.write_bytes(b"old")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        files.write_atomic(str(path), b"new and longer")
    assert path.read_bytes() == b"old"
    assert listing(tmp_path) == ["names.txt"]


def test_an_atomic_write_replaces_the_file_whole(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"old and long")
    files.write_atomic(str(path), "new")
    assert path.read_bytes() == b"new" and listing(tmp_path) == ["f.txt"]


def test_reading_a_directory_or_a_missing_file_is_one_line(tmp_path):
    assert "is a directory, not a checkpoint file" in one_line_error(files.read_bytes, str(tmp_path), "checkpoint file")
    missing = str(tmp_path / "nope.txt")
    assert one_line_error(files.read_bytes, missing) == "cannot read %s: No such file or directory" % missing


def test_special_files_are_refused_before_they_are_read(tmp_path):
    # a socket is safe to try in-process (opening one fails at once); a FIFO and /dev/zero, which would
    # hang or never end if they were read, are tried in a real process in test_fuzz_files.py
    import socket
    if not hasattr(socket, "AF_UNIX"):
        pytest.skip("no Unix sockets here")
    path = str(tmp_path / "sock")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(path)
        assert one_line_error(files.read_bytes, path) == \
            "%s is a socket, not a text file; pass a regular file" % path


def test_a_file_beyond_the_limit_is_refused_with_its_size(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"a\n" * 1536)  # 3 KiB
    assert files.read_bytes(str(path), limit=3072) == b"a\n" * 1536  # the limit itself is allowed
    message = one_line_error(files.read_bytes, str(path), "text file", 3071)
    assert message == "%s is 3 KiB, more than the 3071 bytes a text file may be; pass a smaller file" % path


def test_a_file_that_grows_while_it_is_read_is_cut_at_the_limit(tmp_path, monkeypatch):
    # st_size said small, the file then held more: at most limit + 1 bytes are ever read
    path = tmp_path / "growing.txt"
    path.write_bytes(b"x" * 5000)
    real_fstat = os.fstat

    class Small:
        def __init__(self, info):
            self.st_mode, self.st_size = info.st_mode, 10
    monkeypatch.setattr(os, "fstat", lambda fd: Small(real_fstat(fd)))
    assert "more than 100 bytes" in one_line_error(files.read_bytes, str(path), "text file", 100)


def test_a_name_with_a_nul_character(tmp_path):
    assert "cannot hold a NUL character" in one_line_error(files.read_bytes, "a\0b")


def test_sizes_read_as_a_person_would_say_them():
    assert [files.human_size(n) for n in (0, 1023, 1024, 1536, 3071, 64 << 20, (3 << 30) + (1 << 29))] == \
        ["0 bytes", "1023 bytes", "1 KiB", "1.5 KiB", "3071 bytes", "64 MiB", "3.5 GiB"]


def test_json_text_keeps_utf8_and_escapes_only_what_utf8_cannot_hold():
    from microgpt.tool.files import json_text
    assert json_text(["é", "名"]) == '["é", "名"]'  # readable as it is
    name = os.fsdecode(b"run\xff")  # a file name that is not UTF-8, as Python hands it over
    text = json_text({"data": name, "vocab": ["é"]})
    text.encode("utf-8")  # must not raise
    assert json.loads(text) == {"data": name, "vocab": ["é"]}


def test_a_run_into_a_folder_whose_name_is_not_utf8(tmp_path, capsys):
    # config.json, the checkpoint and every printed line name the folder: none may fail on its bytes
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("".join(a + b + "\n" for a in "abcde" for b in "xyz"), encoding="utf-8")
    out = os.path.join(str(tmp_path), os.fsdecode(b"run\xff"))
    assert main(["--data", str(tiny), "--out", out, "--steps", "2", "--n-embd", "8", "--n-head", "2",
                 "--num-samples", "1", "--quiet"]) == 0
    assert os.path.exists(os.path.join(out, "checkpoint.json"))
    assert main(["export", out, "--out", os.path.join(out, os.fsdecode(b"w\xfe.safetensors"))]) == 0
    assert "\\udcfe" in capsys.readouterr().out  # printed as an escape
