"""What reaches the terminal: the data's control characters shown as escapes and never obeyed, the
progress line as the terminal can take it, errors that list characters kept short."""

import contextlib
import io
import os
import unicodedata

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
