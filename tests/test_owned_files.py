"""A run writes only what is its own (issue 18): a checkpoint copied into a folder of the user's files never
replaces them, and --overwrite removes what the old run made, but nothing else."""

import os
import shutil
import struct

import pytest

from microgpt.tool import report, runs
from microgpt.tool.cli import main

USERS = {runs.REPORT: b"<!DOCTYPE html>\n<html><title>my notes</title></html>\n",
         runs.METRICS: b'{"epoch": 1, "accuracy": 0.93}\n',
         runs.CONFIG: b'{"theme": "dark"}\n'}


def one_line(capsys, code):
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and err.startswith("microgpt: error: "), (code, err)
    return err


def snapshot(folder):
    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))}


@pytest.fixture
def trained(tmp_path, tiny, monkeypatch, capsys):
    """A finished run of 4 steps in tmp_path/run."""
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", tiny, "--steps", "4", "--out", "run", "--quiet", "--num-samples", "0"]) == 0
    capsys.readouterr()
    return os.path.join(str(tmp_path), "run")


def copied_beside(trained, name):
    """The run's checkpoint copied into a folder of the user's that holds their own `name`."""
    folder = os.path.join(os.path.dirname(trained), "mine")
    os.makedirs(folder)
    shutil.copy(os.path.join(trained, runs.CHECKPOINT), folder)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(USERS[name])
    return folder


def test_report_never_replaces_a_page_it_did_not_write(trained, capsys):
    folder = copied_beside(trained, runs.REPORT)
    before = snapshot(folder)
    err = one_line(capsys, main(["report", folder]))
    assert "report.html is not a page MicroGPT wrote" in err
    assert snapshot(folder) == before
    assert main(["report", trained]) == 0  # its own page it replaces, as always


@pytest.mark.parametrize("name", sorted(USERS))
def test_resume_never_replaces_a_file_it_did_not_write(trained, capsys, name):
    folder = copied_beside(trained, name)
    before = snapshot(folder)
    err = one_line(capsys, main(["train", "--resume", folder, "--steps", "6", "--quiet", "--num-samples", "0"]))
    assert "holds %s that MicroGPT did not write, and the resumed run would replace it" % name in err
    assert snapshot(folder) == before


@pytest.mark.parametrize("name", sorted(USERS))
def test_overwrite_never_replaces_a_file_it_did_not_write(trained, tiny, capsys, name):
    folder = copied_beside(trained, name)
    before = snapshot(folder)
    err = one_line(capsys, main(["train", "--data", tiny, "--steps", "2", "--out", folder, "--overwrite", "--quiet",
                                 "--num-samples", "0"]))
    assert "holds %s that MicroGPT did not write, and a new run would replace it" % name in err
    assert snapshot(folder) == before


def safetensors_of_another_tool():
    header = b'{"__metadata__":{"format":"pt"},"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}'
    return struct.pack("<Q", len(header)) + header + struct.pack("<d", 1.0)


def test_overwrite_removes_what_the_old_run_made_at_its_first_save(trained, tiny, capsys, monkeypatch):
    assert main(["export", trained]) == 0
    assert runs.looks_ours(os.path.join(trained, runs.EXPORT))
    old_page = open(os.path.join(trained, runs.REPORT), "rb").read()
    # no page from the new run: what is left of the old one is then only what the takeover leaves
    monkeypatch.setattr(report, "from_training", lambda *args, **kwargs: None)
    assert main(["train", "--data", tiny, "--steps", "2", "--out", trained, "--overwrite", "--quiet",
                 "--num-samples", "0"]) == 0
    assert sorted(os.listdir(trained)) == [runs.CHECKPOINT, runs.CONFIG, runs.METRICS]
    assert old_page  # (it was there)


def test_overwrite_keeps_files_of_the_same_names_that_are_not_the_runs(trained, tiny, capsys, monkeypatch):
    theirs = safetensors_of_another_tool()
    with open(os.path.join(trained, runs.EXPORT), "wb") as f:
        f.write(theirs)
    assert not runs.looks_ours(os.path.join(trained, runs.EXPORT))
    assert main(["train", "--data", tiny, "--steps", "2", "--out", trained, "--overwrite", "--quiet",
                 "--num-samples", "0"]) == 0
    assert open(os.path.join(trained, runs.EXPORT), "rb").read() == theirs


def test_a_link_in_place_of_the_metrics_is_the_users_and_stays(trained, tmp_path, capsys):
    """keep_metrics would have replaced the link itself with a file (what it names stays untouched either way)."""
    precious = tmp_path / "precious.jsonl"
    precious.write_bytes(USERS[runs.METRICS])
    metrics = os.path.join(trained, runs.METRICS)
    os.remove(metrics)
    os.symlink(str(precious), metrics)
    err = one_line(capsys, main(["train", "--resume", trained, "--steps", "6", "--quiet", "--num-samples", "0"]))
    assert "holds metrics.jsonl that MicroGPT did not write" in err
    assert os.path.islink(metrics) and precious.read_bytes() == USERS[runs.METRICS]
