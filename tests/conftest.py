import http.server
import os
import socket
import threading

import pytest
from hypothesis import settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the names dataset lives beside the repository, never inside it
NAMES = os.path.join(os.path.dirname(ROOT), "shared", "data", "names.txt")

# No deadlines: the machine is shared, and a slow example is not a wrong one. In CI the examples are
# derandomized so that a run is repeatable; locally hypothesis keeps exploring.
settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture
def names_path():
    if not os.path.isfile(NAMES):
        pytest.skip("the names dataset is not at ../shared/data/names.txt")
    return NAMES


def first_names(folder, n, filename="tiny.txt"):
    """A data file in `folder` of the first n names of the dataset (the test skips without it)."""
    if not os.path.isfile(NAMES):
        pytest.skip("the names dataset is not at ../shared/data/names.txt")
    with open(NAMES, encoding="utf-8") as f:
        lines = f.read().splitlines()[:n]
    path = os.path.join(str(folder), filename)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
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
    """No test ever reads the user's cache or reaches the internet: both point somewhere harmless."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MICROGPT_CACHE_DIR", str(tmp_path_factory.mktemp("empty-cache")))
        mp.setenv("MICROGPT_NAMES_URL", closed_port_url())
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
