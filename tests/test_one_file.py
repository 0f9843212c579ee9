"""microgpt.py, the whole algorithm in one file: it prints what the package prints, and stays a book.

The book (the repository root's microgpt.py) is run as a reader runs it: `python microgpt.py` in a folder
holding only that file and, for training, input.txt. Its 1000 losses and 20 names must be the package's,
line for line; without input.txt it downloads the names, and when that fails it says so in one line and
leaves nothing behind. The download tests use a local server or a closed port, and stop before training.
"""

import ast
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
from test_reference_run import default_folder  # noqa: F401  (the package's default run, requested below)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOOK = os.path.join(ROOT, "microgpt.py")
MAX_LINES = 300
STDLIB = getattr(sys, "stdlib_module_names", None) or {  # Python 3.10+ knows its own; else the likely ones
    "collections", "functools", "gc", "hashlib", "http", "io", "itertools", "math", "os", "random", "shutil",
    "signal", "socket", "ssl", "sys", "tempfile", "time", "urllib"}


def book_folder(tmp_path, names=None):
    """A folder holding a copy of the book and, given `names`, a copy of it as input.txt."""
    folder = tmp_path / "reader"
    folder.mkdir()
    shutil.copyfile(BOOK, str(folder / "microgpt.py"))
    if names:
        shutil.copyfile(names, str(folder / "input.txt"))
    return folder


def start_book(folder, url=None):
    """`python microgpt.py` in `folder`, started; MICROGPT_NAMES_URL is `url` when given."""
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    if url is not None:
        env["MICROGPT_NAMES_URL"] = url
    return subprocess.Popen([sys.executable, "microgpt.py"], cwd=str(folder), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)


def finish(process, timeout):
    """(exit code, stdout, stderr); a process still running after `timeout` seconds is killed."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return process.returncode, out, err


def closed_port_url():
    with socket.socket() as s:  # a port the OS just gave out and nobody listens on any more
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return "http://127.0.0.1:%d/names.txt" % port


def step_and_sample_lines(lines):
    return ([line for line in lines if line.startswith("step ")],
            [line for line in lines if line.startswith("sample ")])


# --------------------------------------------------------------------------------------------------
# the run


def test_the_book_prints_the_packages_losses_and_names(names_path, tmp_path, request):
    book = start_book(book_folder(tmp_path, names_path))
    try:  # the package trains in this process meanwhile (the shared fixture), the book in its own
        package_lines = request.getfixturevalue("default_folder")[0]
        code, out, err = finish(book, timeout=600)
    finally:
        if book.poll() is None:
            book.kill()
            book.communicate()
    assert code == 0 and err == "", err
    lines = out.splitlines()
    steps, samples = step_and_sample_lines(lines)
    package_steps, package_samples = step_and_sample_lines(package_lines)
    assert len(package_steps) == 1000 and len(package_samples) == 20
    for i, (mine, theirs) in enumerate(zip(steps, package_steps)):
        assert mine == theirs, "step %d differs" % (i + 1)
    assert steps == package_steps
    assert samples == package_samples
    # its few other lines (num docs, vocab size, num params, the samples' heading) are the package's too
    assert set(lines) - set(steps) - set(samples) <= set(package_lines)
    assert lines[-20:] == package_samples  # the names come last


# --------------------------------------------------------------------------------------------------
# the download: no input.txt


def served(http_server, routes, path):
    return http_server(routes).url(path)


@pytest.mark.parametrize("case", ["closed port", "not found", "cut short", "not a url", "wrong bytes"])
def test_a_failed_download_is_one_line_and_leaves_nothing(case, names_path, tmp_path, http_server):
    with open(names_path, "rb") as f:
        names = f.read()
    # conftest's server answers a /truncated... path by promising twice the bytes it sends, then hanging up
    url = {"closed port": closed_port_url,
           "not found": lambda: served(http_server, {}, "/names.txt"),
           "cut short": lambda: served(http_server, {"/truncated.txt": names}, "/truncated.txt"),
           "not a url": lambda: "http://[",
           "wrong bytes": lambda: served(http_server, {"/names.txt": b"emma\nolivia\nava\n"}, "/names.txt")}[case]()
    folder = book_folder(tmp_path)
    code, out, err = finish(start_book(folder, url), timeout=120)
    assert code == 1, (out, err)
    assert len(err.splitlines()) == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    assert err.startswith("microgpt.py: ")
    # it says where to put the file, by its full path
    assert os.path.join(os.path.realpath(str(folder)), "input.txt") in err
    if case == "wrong bytes":
        assert "SHA-256" in err
    assert sorted(os.listdir(str(folder))) == ["microgpt.py"]  # no input.txt, no temporary file
    assert out == ""  # it stopped before training


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="POSIX signals")
def test_a_good_download_becomes_input_txt_and_ctrl_c_is_one_line(names_path, tmp_path, http_server):
    with open(names_path, "rb") as f:
        names = f.read()
    folder = book_folder(tmp_path)
    book = start_book(folder, served(http_server, {"/names.txt": names}, "/names.txt"))
    target = folder / "input.txt"
    deadline = time.time() + 60
    try:
        while not target.exists() and book.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        assert target.exists(), "no input.txt within 60 s; exit code %s" % book.poll()
        assert target.read_bytes() == names  # it appears whole: written aside, then renamed
        assert sorted(os.listdir(str(folder))) == ["input.txt", "microgpt.py"]
        book.send_signal(signal.SIGINT)  # now it trains; a Ctrl-C ends that
        code, out, err = finish(book, timeout=60)
    finally:
        if book.poll() is None:
            book.kill()
            book.communicate()
    assert code == 130, (code, err)
    assert len(err.splitlines()) == 1 and "interrupted" in err and "Traceback" not in err, err
    assert target.read_bytes() == names


# --------------------------------------------------------------------------------------------------
# the book's own limits


@pytest.mark.skipif(not hasattr(signal, "SIGPIPE"), reason="POSIX pipes")
def test_a_reader_that_goes_away_ends_the_book_quietly(names_path, tmp_path):
    # `python microgpt.py | head -3`: the shell's pipe, closed after 3 lines; no BrokenPipeError traceback
    process = start_book(book_folder(tmp_path, names_path))
    lines = [process.stdout.readline() for _ in range(3)]
    process.stdout.close()
    code, _, err = finish(process, 120)
    assert lines[0].startswith("num docs: ") and code == -signal.SIGPIPE and err == ""


def book_source():
    with open(BOOK, encoding="utf-8") as f:
        return f.read()


def test_the_book_is_at_most_300_lines():
    lines = book_source().splitlines()
    assert len(lines) <= MAX_LINES, "%d lines, comments and blank lines included" % len(lines)


def test_the_book_imports_only_the_standard_library():
    roots = set()
    for node in ast.walk(ast.parse(book_source())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import: the book is one file"
            roots.add(node.module.split(".")[0])
    assert roots and roots <= set(STDLIB), sorted(roots - set(STDLIB))


def test_the_book_is_not_in_the_package():
    # `import microgpt` finds the package folder first, and the wheel holds only the packages pyproject names
    assert os.path.dirname(BOOK) == ROOT and os.path.isfile(os.path.join(ROOT, "microgpt", "__init__.py"))
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        pyproject = f.read()
    assert "py-modules" not in pyproject and "py_modules" not in pyproject
    packages = [line.split("=", 1)[1] for line in pyproject.splitlines() if line.strip().startswith("packages")]
    assert len(packages) == 1, packages  # named explicitly: no discovery that could pick up a top-level module
    named = ast.literal_eval(packages[0].strip())
    assert named and all(p == "microgpt" or p.startswith("microgpt.") for p in named), named


@pytest.mark.parametrize("tool, argv", [("ruff", ["check", "--no-cache", "microgpt.py"]),
                                        ("vermin", ["-t=3.7-", "--no-tips", "--violations", "microgpt.py"])])
def test_the_book_is_lint_clean_and_runs_on_python_3_7(tool, argv):
    executable = shutil.which(tool)
    if executable is None:
        pytest.skip("%s is not installed (pip install %s)" % (tool, tool))
    result = subprocess.run([executable] + argv, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)
    assert result.returncode == 0, result.stdout
