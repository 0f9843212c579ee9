import functools
import http.server
import os
import socket
import threading

import pytest
from hypothesis import settings

from microgpt.errors import MicroGPTError
from microgpt.tool import download

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the names dataset is never inside the repository: a copy beside it is one of the places it is looked for
NAMES = os.path.join(os.path.dirname(ROOT), "shared", "data", "names.txt")
SHAKESPEARE = os.path.join(os.path.dirname(ROOT), "shared", "data", "tinyshakespeare.txt")  # never downloaded by tests
# The user's own settings, read as pytest loads this file: for every test the autouse fixture `no_download`
# below points the cache and the download address somewhere harmless.
USER_NAMES_FILE = os.path.abspath(os.environ["MICROGPT_NAMES_FILE"]) if os.environ.get("MICROGPT_NAMES_FILE") else None
USER_CACHE = download.cache_dir()
USER_URL = os.environ.get(download.URL_ENV) or download.NAMES_URL

# No deadlines: the machine is shared, and a slow example is not a wrong one. In CI the examples are
# derandomized so that a run is repeatable; locally hypothesis keeps exploring.
settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


class NamesMissing(Exception):
    """The names dataset is nowhere and cannot be downloaded; the message, one line, says how to provide it."""


def find_names(names_file=USER_NAMES_FILE, cache=USER_CACHE, shared=NAMES, url=USER_URL):
    """Path of the names dataset, the first with its SHA-256 of: `names_file` ($MICROGPT_NAMES_FILE), the
    tool's download cache, `shared` (../shared/data/names.txt; None to not look there); else downloaded from
    `url` into the cache. Raises NamesMissing if it cannot be had."""
    candidates = [path for path in (names_file, os.path.join(cache, "names.txt"), shared) if path]
    for path in candidates:
        if download.is_cached(path):  # the size and the SHA-256 of the original
            return path
    try:
        return download.ensure_names(url=url, folder=cache)
    except MicroGPTError as e:
        failed = str(e).replace("; " + download.HINT, "")  # the hint is for a user of the tool, not of the tests
        where = "put it at %s, " % shared if shared else ""
        raise NamesMissing("the names dataset is needed: %sset MICROGPT_NAMES_FILE=/path/to/names.txt, or allow "
                           "its download (%s); missing, or not its SHA-256, at: %s"
                           % (where, failed, ", ".join(candidates)))


@functools.lru_cache(maxsize=None)
def session_names():
    """(path, None) or (None, why): looked for, and downloaded if need be, once per session."""
    try:
        return find_names(), None
    except NamesMissing as e:
        return None, str(e)


def names_file():
    """Path of the names dataset; a test that needs it and cannot have it fails, saying how to provide it."""
    path, why = session_names()
    if why:
        pytest.fail(why, pytrace=False)
    return path


@pytest.fixture
def names_path():
    return names_file()


def first_names(folder, n, filename="tiny.txt"):
    """A data file in `folder` of the first n names of the dataset (the test fails without it)."""
    with open(names_file(), encoding="utf-8") as f:
        lines = f.read().splitlines()[:n]
    path = os.path.join(str(folder), filename)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def shakespeare_file():
    """Path of Tiny Shakespeare beside the repository (../shared/data/tinyshakespeare.txt, byte for byte the
    original); a test that needs it and cannot have it fails, saying where to put it."""
    if not download.is_cached(SHAKESPEARE, "shakespeare"):
        pytest.fail("Tiny Shakespeare is needed at %s (%d bytes, SHA-256 %s): download it from %s"
                    % (SHAKESPEARE, download.DATASETS["shakespeare"].size, download.DATASETS["shakespeare"].sha256,
                       download.DATASETS["shakespeare"].url), pytrace=False)
    return SHAKESPEARE


def shakespeare_slice(folder, n, filename="shakespeare.txt"):
    """A data file in `folder` of the first n characters of Tiny Shakespeare."""
    with open(shakespeare_file(), encoding="utf-8") as f:
        text = f.read(n)
    path = os.path.join(str(folder), filename)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    return path


@pytest.fixture
def tiny(tmp_path):
    """The first 300 names: big enough to split and to learn from, small enough to train in a blink."""
    return first_names(tmp_path, 300)


def closed_port_url(path="/names.txt"):
    """An http URL on 127.0.0.1 where nothing listens: a port the OS just gave out, then closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return "http://127.0.0.1:%d%s" % (port, path)


@pytest.fixture(scope="session", autouse=True)
def no_download(tmp_path_factory):
    """No test reads the user's cache or reaches the internet: both point somewhere harmless. (Only the
    session's one look for the names dataset, `names_file`, uses the user's settings read at import.)"""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MICROGPT_CACHE_DIR", str(tmp_path_factory.mktemp("empty-cache")))
        mp.setenv("MICROGPT_NAMES_URL", closed_port_url())
        mp.setenv("MICROGPT_SHAKESPEARE_URL", closed_port_url("/input.txt"))
        yield


class Server:
    """A local HTTP server on 127.0.0.1 serving `routes` (path -> bytes) from a thread."""

    def __init__(self, routes):
        self.routes = dict(routes)
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                body = server.routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                if self.path.startswith("/truncated"):
                    # promise more bytes than are sent, then hang up: a connection lost mid-download
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body) * 2))
                    self.end_headers()
                    self.wfile.write(body)
                    self.close_connection = True
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path):
        return self.base + path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def http_server():
    """Call it with routes (path -> bytes) to start a server; every server started is stopped after the test."""
    servers = []

    def start(routes):
        servers.append(Server(routes))
        return servers[-1]
    yield start
    for s in servers:
        s.close()
