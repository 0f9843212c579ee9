"""Make docs/report.png, the picture of a report in docs/usage.md: train the default run on the names dataset
in a temporary folder, write its report, and photograph it with headless Chromium.

    python scripts/screenshot_report.py [--data FILE] [--out docs/report.png] [--scale 0.7]

The data file is copied into the temporary folder and named there as names.txt, so that the picture
shows `--data names.txt` and no path of this machine. Needs Debian's chromium.
"""

import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import chromium  # noqa: E402

from microgpt.tool.cli import main  # noqa: E402


def train_and_report(data, folder):
    """The default run on a copy of `data` in `folder`; returns the report's path and the seconds taken."""
    shutil.copyfile(data, os.path.join(folder, "names.txt"))
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        start = time.time()
        with contextlib.redirect_stdout(io.StringIO()) as out:
            code = main(["--data", "names.txt"])
        if code != 0:
            sys.exit("training failed (exit %d)" % code)
        last = out.getvalue().splitlines()[-1]
        assert last.startswith("report: "), last
        return os.path.join(folder, last[len("report: "):]), time.time() - start
    finally:
        os.chdir(cwd)


def photograph(report, png, width, scale):
    with chromium.Browser() as browser:
        page = browser.page(width, 900)
        page.open("file://" + os.path.abspath(report))
        errors = page.errors()
        if errors:
            sys.exit("the page logged errors: %s" % errors)
        return page.screenshot(png, scale)


def run(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "names.txt"),
                        help="the names dataset (default: ../shared/data/names.txt beside the repository)")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "report.png"), help="(default docs/report.png)")
    parser.add_argument("--width", type=int, default=860, help="window width in CSS pixels (default %(default)s)")
    parser.add_argument("--scale", type=float, default=0.7, help="picture pixels per CSS pixel (default %(default)s)")
    args = parser.parse_args(argv)
    if chromium.find() is None:
        sys.exit("no chromium on PATH (Debian: apt-get install -y chromium)")
    folder = tempfile.mkdtemp(prefix="microgpt-screenshot-")
    try:
        report, seconds = train_and_report(args.data, folder)
        width, height = photograph(report, args.out, args.width, args.scale)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print("trained and reported in %.1f s; %s: a %dx%d page at scale %s, %d KB"
          % (seconds, args.out, width, height, args.scale, os.path.getsize(args.out) // 1024))


if __name__ == "__main__":
    run()
