"""What reaches the terminal: the data's control characters shown as escapes and never obeyed, the
progress line as the terminal can take it, errors that list characters kept short."""

import contextlib
import io
import os
import subprocess
import sys
import unicodedata

import pytest
from conftest import ROOT

from microgpt.data import Tokenizer
from microgpt.errors import MicroGPTError
from microgpt.tool import download
from microgpt.tool.cli import main
from microgpt.tool.console import Progress

# Everything a terminal obeys instead of showing, besides the newline that ends a line and a tab
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
HOSTILE = ["\x1b]0;pwned\x07ab", "\x1b[2Jcab", "\u202eabc", "ba\x85c", "a\tbc", "c\x9b31mab", "\x1b[2Jba"]


def raw_controls(text):
    return sorted({c for c in text if c not in "\n\t" and (unicodedata.category(c) in ("Cc", "Zl", "Zp")
                                                           or c in BIDI)})


def cli(folder, *argv):
    """(exit code, stdout, stderr) of main(argv) run in `folder`."""
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(str(folder))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
    finally:
        os.chdir(cwd)
    return code, out.getvalue(), err.getvalue()


def hostile_run(folder, docs=HOSTILE * 10, *flags):
    with open(os.path.join(str(folder), "data.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(docs) + "\n")
    return cli(folder, "train", "--data", "data.txt", "--out", "run", "--steps", "20", "--batch-size", "4",
               "--n-embd", "8", "--n-head", "2", "--val-fraction", "0", "--temperature", "1", "--quiet", *flags)


def test_samples_show_the_data_s_control_characters_as_escapes(tmp_path):
    code, out, err = hostile_run(tmp_path)
    assert code == 0, err
    assert raw_controls(out + err) == []
    # every sample begins with the prompt, a screen-clearing sequence: shown, not obeyed
    code, out, err = cli(tmp_path, "sample", "--run", "run", "--prompt", "\x1b[2J", "--num-samples", "5")
    assert code == 0, err
    assert raw_controls(out + err) == [], out
    samples = [line for line in out.splitlines() if line.startswith("sample ")]
    assert len(samples) == 5 and all(line.split(": ", 1)[1].startswith("\\x1b[2J") for line in samples), samples
    code, out, err = cli(tmp_path, "sample", "--run", "run", "--prompt", "a\t", "--num-samples", "2")
    assert code == 0 and all("a\t" in line for line in out.splitlines() if line.startswith("sample ")), out


def test_the_report_shows_them_as_escapes_too(tmp_path):
    code, out, err = hostile_run(tmp_path)
    assert code == 0, err
    with open(os.path.join(str(tmp_path), "run", "report.html"), encoding="utf-8") as f:
        page = f.read()
    text = page.split('<section', 1)[1]
    assert "\\x1b[2J" in text
    # what is left raw sits in attributes only (data-doc), which a browser never shows as text
    shown = [part.split(">", 1)[-1] for part in text.split("<")]
    assert raw_controls("".join(shown)) == []


class Terminal(io.StringIO):
    """What a terminal receives; isatty says it is one, its size comes from $COLUMNS."""

    def isatty(self):
        return True


def test_the_progress_line_fits_the_terminal_and_a_dumb_one_gets_plain_lines(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "30")
    screen = Terminal()
    progress = Progress(screen, 0, 1000, True)
    progress.val_loss, progress.last = 2.5, progress.last - 1  # due for a redraw
    progress.update(10, 3.25)
    progress.evaluating(10, 3203, 60.0)
    drawn = screen.getvalue().split("\r\x1b[K")
    assert drawn[0] == "" and len(drawn) == 3 and drawn[1].startswith("step 10/1000 | loss 3.2500")
    assert all(0 < len(line) < 30 and "\n" not in line for line in drawn[1:]), drawn
    monkeypatch.setenv("TERM", "dumb")  # Emacs' shell: a terminal that shows escape codes as text
    screen = Terminal()
    progress = Progress(screen, 0, 1000, True)
    progress.last -= Progress.PLAIN_EVERY
    progress.update(10, 3.25)
    progress.evaluating(10, 3203, 60.0)
    progress.close()
    lines = screen.getvalue().split("\n")
    assert "\r" not in screen.getvalue() and "\x1b" not in screen.getvalue()
    assert lines[0].startswith("step 10/1000 | loss 3.2500 |") and "ETA" in lines[0]
    assert lines[1].startswith("step 10/1000 | evaluating on 3203 held-out docs") and lines[2:] == [""]


def test_the_download_redraws_only_on_a_terminal_that_can(monkeypatch):
    monkeypatch.setenv("TERM", "dumb")
    screen = Terminal()
    progress = download.Progress("http://127.0.0.1/names.txt", "cache/names.txt", screen)
    progress.start(228145)
    progress.done(228145)
    assert screen.getvalue() == "downloading the names dataset from http://127.0.0.1/names.txt to cache/names.txt\n"


def test_an_error_naming_characters_outside_the_vocabulary_stays_short(tmp_path):
    # 3,000 Chinese characters: a vocabulary that took 9 kB to list on one line (30 kB for 10,000)
    chars = [chr(0x4E00 + i) for i in range(3000)]
    code, _, err = hostile_run(tmp_path, ["".join(chars[i:i + 3]) for i in range(0, len(chars), 3)],
                               "--steps", "1", "--num-samples", "0", "--block-size", "4")
    assert code == 0, err
    prompt = "".join(chr(0x41 + i) for i in range(26)) + "\x1b\u202e" + chars[0]
    code, out, err = cli(tmp_path, "sample", "--run", "run", "--prompt", prompt)
    assert code == 1 and out == "" and len(err.splitlines()) == 1, err
    assert err.startswith("microgpt: error: the prompt has 28 characters not in the model's vocabulary: "
                          "'A' (U+0041), 'B' (U+0042), "), err
    assert "'T' (U+0054) and 8 more; its 3000 characters begin \u4e00\u4e01\u4e02" in err, err
    assert len(err) < 800 and raw_controls(err) == [], err


def test_encoding_text_outside_the_vocabulary_names_a_few_characters_and_counts_them():
    tokenizer = Tokenizer(list("abc"))
    with pytest.raises(MicroGPTError) as e:
        tokenizer.encode("abcd" + "".join(chr(0x100 + i) for i in range(1000)) + "d")
    assert str(e.value).startswith("1001 characters of the text are not in the vocabulary: 'd' (U+0064), "
                                   "'\u0100' (U+0100), ")
    assert str(e.value).endswith("'\u0112' (U+0112) and 981 more") and len(str(e.value)) < 400
    with pytest.raises(MicroGPTError, match=r"^1 character of the text is not in the vocabulary: '\\x1b' \(U\+001B\)$"):
        tokenizer.encode("ab\x1bc")


def test_an_empty_home_is_no_home(monkeypatch, tmp_path):
    monkeypatch.delenv(download.CACHE_ENV)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", "")
    pwd = pytest.importorskip("pwd")
    own = pwd.getpwuid(os.getuid()).pw_dir
    assert download.cache_dir() == os.path.join(own, ".cache", "microgpt")  # not /.cache/microgpt
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: pwd.getpwnam("no such user"))  # a uid with no account
    code, out, err = cli(tmp_path, "train", "--steps", "1")
    assert (code, out) == (1, "") and err == (
        "microgpt: error: no folder to keep the downloaded dataset in: $HOME is empty and the account has no home "
        "folder; set MICROGPT_CACHE_DIR=DIR, or pass --data FILE to train on a local text file\n")
    assert os.listdir(str(tmp_path)) == []


def test_a_prompt_typed_under_the_c_locale_is_read_as_utf_8(tmp_path):
    code, _, err = hostile_run(tmp_path, ["\u00e9mile", "zo\u00e9", "chlo\u00e9"] * 10, "--num-samples", "0")
    assert code == 0, err
    # what Python makes of `--prompt é` when LC_ALL=C and its UTF-8 mode is off: the two bytes, escaped
    code, out, err = cli(tmp_path, "sample", "--run", "run", "--prompt", "\udcc3\udca9", "--num-samples", "2")
    assert code == 0, err
    assert [line.split(": ", 1)[1][0] for line in out.splitlines() if line.startswith("sample ")] == ["\u00e9"] * 2
    env = dict(os.environ, LC_ALL="C", PYTHONUTF8="0", PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-m", "microgpt", "sample", "--run", "run", "--prompt", "\u00e9",
                           "--num-samples", "1"], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)
    assert done.returncode == 0, done.stderr
    assert b"sample  1: \\xe9" in done.stdout  # ASCII output: shown as an escape, but the prompt was taken
