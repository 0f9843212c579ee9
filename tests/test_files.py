"""File plumbing: atomic writes that keep the old file when anything fails, and reading a user's file."""

import os

import pytest
from test_data import one_line_error

from microgpt import files


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
