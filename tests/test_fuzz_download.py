"""The download against a hostile server: every way it can misbehave ends in one line, in bounded time and
memory, with the cache as it was. The server is raw sockets on 127.0.0.1, so it can lie in ways
http.server would not (a Content-Length it never meets, a byte a second, a body without end)."""

import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tracemalloc

import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st
from test_data import one_line_error

from microgpt.tool import cli, download

STALE = b"emma\nolivia\n"  # a cached file that is not the names file: a failed download must leave it so


def stale_said(cache):
    """The warning that comes first when the STALE file is found in the cache: it is about to be replaced."""
    return ("warning: %s is not the names dataset (12 bytes, where the original has 228145); downloading it again\n"
            % (cache / "names.txt"))


def head(status="200 OK", length=None, extra=()):
    lines = ["HTTP/1.1 " + status, "Connection: close"] + list(extra)
    if length is not None:
        lines.append("Content-Length: %s" % length)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Hostile:
    """Serves each path with its own misbehaviour, one thread per connection, until closed."""

    def __init__(self, names=None):
        self.names = names
        self.stop = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.05)
        self.base = "http://127.0.0.1:%d" % self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self.accept, daemon=True)
        self.thread.start()

    def url(self, path):
        return self.base + path

    def accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        with conn:
            conn.settimeout(5)
            request = b""
            try:
                while b"\r\n\r\n" not in request:
                    got = conn.recv(4096)
                    if not got or got.startswith(b"\x16"):  # gone, or a TLS hello: this server speaks plain HTTP
                        return
                    request += got
                path = request.split(b" ")[1].decode()
                getattr(self, "serve_" + path.strip("/").replace("-", "_"), self.serve_404)(conn)
            except OSError:  # the client hung up, or the test is over
                pass

    def endless(self, conn, chunk):
        while not self.stop.is_set():
            conn.sendall(chunk)

    def slowly(self, conn, payload, pause):
        for i in range(len(payload)):
            if self.stop.wait(pause):
                return
            conn.sendall(payload[i:i + 1])

    def serve_huge(self, conn):
        conn.sendall(head(length=10 ** 10))
        self.endless(conn, b"a\n" * 32768)

    def serve_huge_unsized(self, conn):
        conn.sendall(head())
        self.endless(conn, b"a\n" * 32768)

    def serve_huge_chunked(self, conn):
        conn.sendall(head(extra=["Transfer-Encoding: chunked"]))
        self.endless(conn, b"10000\r\n" + b"a" * 65536 + b"\r\n")

    def serve_empty(self, conn):
        conn.sendall(head(length=0))

    def serve_empty_unsized(self, conn):
        conn.sendall(head())

    def serve_trickle(self, conn):
        conn.sendall(head(length=download.NAMES_SIZE))
        self.slowly(conn, b"a\n" * download.NAMES_SIZE, 0.5)

    def serve_trickle_unsized(self, conn):
        conn.sendall(head())
        self.slowly(conn, b"a\n" * download.NAMES_SIZE, 0.5)

    def serve_trickle_headers(self, conn):
        self.slowly(conn, b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000, 0.3)

    def serve_silent(self, conn):
        self.stop.wait(10)

    def serve_wrong_hash(self, conn):
        conn.sendall(head(length=download.NAMES_SIZE) + b"x" * download.NAMES_SIZE)

    def serve_loop(self, conn):
        conn.sendall(head("302 Found", 0, ["Location: /loop"]))

    def serve_ping(self, conn):
        conn.sendall(head("301 Moved Permanently", 0, ["Location: /pong"]))

    def serve_pong(self, conn):
        conn.sendall(head("307 Temporary Redirect", 0, ["Location: " + self.url("/ping")]))

    def serve_to_ftp(self, conn):
        conn.sendall(head("302 Found", 0, ["Location: ftp://127.0.0.1/names.txt"]))

    def serve_no_location(self, conn):
        conn.sendall(head("302 Found", 0))

    def serve_404(self, conn):
        conn.sendall(head("404 Not Found", 9) + b"not found")

    def serve_500(self, conn):
        conn.sendall(head("500 Internal Server Error", 0))

    def serve_truncated(self, conn):
        conn.sendall(head(length=download.NAMES_SIZE) + b"a\n" * 2500)

    def serve_truncated_chunked(self, conn):
        conn.sendall(head(extra=["Transfer-Encoding: chunked"]) + b"10000\r\n" + b"a" * 5000)

    def serve_hangup(self, conn):
        pass  # closed without a word

    def serve_garbage(self, conn):
        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")

    def serve_good(self, conn):
        conn.sendall(head(length=len(self.names)))
        for i in range(0, len(self.names), 20000):  # in pieces, so that concurrent downloads overlap
            time.sleep(0.01)
            conn.sendall(self.names[i:i + 20000])

    def serve_good_unsized(self, conn):
        conn.sendall(head(extra=["Content-Length: about 200 KB"]) + self.names)

    def serve_to_good(self, conn):
        conn.sendall(head("302 Found", 0, ["Location: /good"]))

    def close(self):
        self.stop.set()
        self.listener.close()
        self.thread.join()


@pytest.fixture
def hostile():
    servers = []

    def start(names=None):
        servers.append(Hostile(names))
        return servers[-1]
    yield start
    for s in servers:
        s.close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / "names.txt").write_bytes(STALE)
    monkeypatch.setenv("MICROGPT_CACHE_DIR", str(folder))
    return folder


def assert_untouched(cache):
    assert sorted(os.listdir(str(cache))) == ["names.txt"]  # no temporary or partial file beside it
    assert (cache / "names.txt").read_bytes() == STALE


# path, ensure_names keywords, words the one line must hold, seconds it may take at most
CASES = [
    ("/huge", {}, ["more than the 4.0 MB limit", "offers 10000.0 MB"], 5),
    ("/huge-unsized", {}, ["sent more than the 4.0 MB limit"], 10),
    ("/huge-chunked", {}, ["sent more than the 4.0 MB limit"], 10),
    ("/empty", {}, ["empty file"], 5),
    ("/empty-unsized", {}, ["empty file"], 5),
    ("/trickle", {"deadline": 2}, ["2 s deadline"], 6),
    ("/trickle-unsized", {"deadline": 2}, ["2 s deadline"], 6),
    ("/trickle-headers", {"deadline": 2}, ["2 s deadline"], 6),
    ("/silent", {"timeout": 1}, ["no answer for 1 s (timed out)"], 5),
    ("/wrong-hash", {}, ["is not the names dataset", "SHA-256", download.NAMES_SHA256]),
    ("/loop", {}, ["redirects in a loop", "HTTP 302"]),
    ("/ping", {}, ["redirects in a loop", "HTTP 30"]),
    ("/to-ftp", {}, ["redirect that cannot be followed", "ftp://127.0.0.1/names.txt"]),
    ("/no-location", {}, ["redirect (HTTP 302) without saying where to"]),
    ("/404", {}, ["HTTP 404 (Not Found)"]),
    ("/500", {}, ["HTTP 500 (Internal Server Error)"]),
    ("/truncated", {}, ["closed after 5000 bytes of the 228.1 KB promised"]),
    ("/truncated-chunked", {}, ["closed before the end of the body"]),
    ("/hangup", {}, ["closed the connection without an answer"]),
    ("/garbage", {}, ["the answer is not HTTP"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_misbehaviour_is_one_line(hostile, cache, case):
    path, kwargs, words, bound = (case + (5,))[:4]
    url = hostile().url(path)
    start = time.monotonic()
    message = one_line_error(lambda: download.ensure_names(url=url, **kwargs))
    assert time.monotonic() - start < bound
    assert message.startswith("could not download the names dataset from %s: " % url) or "SHA-256" in message
    assert message.endswith("pass --data FILE to train on a local text file")
    for word in words:
        assert word in message
    assert "\r" not in message and "Traceback" not in message
    assert_untouched(cache)


def test_a_huge_body_is_never_held_in_memory(hostile, cache):
    url = hostile().url("/huge-unsized")
    tracemalloc.start()
    try:
        one_line_error(lambda: download.ensure_names(url=url, max_bytes=1 << 20))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20  # the 1 MiB limit and a chunk, not the endless body
    assert_untouched(cache)


def test_no_network_and_dns_failure(cache, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError(101, "Network is unreachable")
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert "Network is unreachable (is the network up?)" in one_line_error(download.ensure_names)
    monkeypatch.undo()
    monkeypatch.setenv("MICROGPT_CACHE_DIR", str(cache))

    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    message = one_line_error(download.ensure_names, "http://names.example.invalid/names.txt")
    assert "cannot look up the host name" in message and "names.example.invalid" in message
    assert_untouched(cache)


def test_https_to_a_plain_http_port(hostile, cache):
    url = hostile().url("/good").replace("http://", "https://")
    message = one_line_error(download.ensure_names, url)
    assert "the secure connection failed (" in message and url in message
    assert_untouched(cache)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/names.txt", "file:///names.txt", "names.txt", "http://",
                                 "http://127.0.0.1/names.txt\nLocation: x"])
def test_addresses_that_are_not_http(cache, monkeypatch, url):
    monkeypatch.setenv("MICROGPT_NAMES_URL", url)
    message = one_line_error(download.ensure_names)
    assert message.isprintable() and (repr(url) in message or url in message)
    if url != "http://":
        assert "$MICROGPT_NAMES_URL" in message and "not an http:// or https:// address" in message
    assert_untouched(cache)


def test_a_redirect_to_the_file_and_a_malformed_length_still_download(hostile, names_path, cache):
    with open(names_path, "rb") as f:
        names = f.read()
    server = hostile(names)
    for path in ("/to-good", "/good-unsized"):
        (cache / "names.txt").write_bytes(STALE)
        assert download.ensure_names(url=server.url(path)) == str(cache / "names.txt")
        assert (cache / "names.txt").read_bytes() == names
        assert sorted(os.listdir(str(cache))) == ["names.txt"]


def test_concurrent_downloads_leave_one_whole_file(hostile, names_path, cache):
    with open(names_path, "rb") as f:
        names = f.read()
    url = hostile(names).url("/good")
    results, errors = [], []

    def fetch():
        try:
            results.append(download.ensure_names(url=url))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and results == [str(cache / "names.txt")] * 4
    assert (cache / "names.txt").read_bytes() == names
    assert sorted(os.listdir(str(cache))) == ["names.txt"]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_redrawn_on_a_terminal_and_one_line_elsewhere(hostile, names_path, cache):
    with open(names_path, "rb") as f:
        server = hostile(f.read())
    first = stale_said(cache) + "downloading the names dataset from %s to %s\n" % (server.url("/good"),
                                                                                  cache / "names.txt")
    tty = Terminal()
    download.ensure_names(url=server.url("/good"), stream=tty)
    shown = tty.getvalue()
    assert shown.startswith(first) and shown.endswith("\n") and shown.count("\n") == 3
    drawn = shown[len(first):-1].split("\r")[1:]  # each redraw starts with a carriage return
    assert len(drawn) >= 3 and drawn[0].strip() == "0% (0 bytes of 228.1 KB)"
    assert drawn[-2].strip() == "100% (228.1 KB of 228.1 KB)" and drawn[-1].strip() == "228.1 KB, verified"
    (cache / "names.txt").write_bytes(STALE)
    log = io.StringIO()
    download.ensure_names(url=server.url("/good"), stream=log)
    assert log.getvalue() == first


def test_a_failure_on_a_terminal_ends_the_progress_line(hostile, cache):
    tty = Terminal()
    one_line_error(lambda: download.ensure_names(url=hostile().url("/truncated"), stream=tty))
    shown = tty.getvalue()
    assert shown.startswith(stale_said(cache)) and shown.endswith("\n") and shown.count("\n") == 3
    assert "of 228.1 KB)" in shown


def test_through_the_cli(hostile, cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MICROGPT_NAMES_URL", hostile().url("/loop"))
    out = tmp_path / "run"
    assert cli.main(["--steps", "1", "--out", str(out)], prog="microgpt") == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] + "\n" == stale_said(cache)  # the stale file, then the one progress line, then the error
    assert err[1].startswith("downloading the names dataset from ")
    assert len(err) == 3 and err[2].startswith("microgpt: error: could not download the names dataset from ")
    assert "redirects in a loop" in err[2] and "(from $MICROGPT_NAMES_URL)" in err[2]
    assert not out.exists()
    assert_untouched(cache)


def test_ctrl_c_during_the_download(hostile, cache, tmp_path):
    env = dict(os.environ, MICROGPT_NAMES_URL=hostile().url("/trickle"), MICROGPT_CACHE_DIR=str(cache),
               PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "microgpt", "--steps", "1", "--out", str(tmp_path / "run")],
                            cwd=str(tmp_path), env=env, stderr=subprocess.PIPE, universal_newlines=True)
    try:
        assert proc.stderr.readline() == stale_said(cache)
        first = proc.stderr.readline()  # the download has begun
        assert first.startswith("downloading the names dataset")
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=20)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert rest == "python -m microgpt: interrupted while downloading the names dataset; nothing was kept\n"
    assert_untouched(cache)


RESPONSES = st.tuples(
    st.sampled_from(["200 OK", "204 No Content", "206 Partial Content", "301 Moved", "400 Bad", "503 Busy",
                     "404 \x1b[2J\x1b[31mgone", "302 Found\r\nLocation: /\x1b]0;x\x07", "200 caf\xe9"]),
    st.sampled_from(["none", "exact", "less", "more", "junk", "negative"]),
    st.binary(max_size=300))


@settings(max_examples=30, deadline=None)
@given(RESPONSES)
def test_any_small_answer_is_one_line(tmp_path_factory, response):
    status, length, body = response
    declared = {"none": None, "exact": len(body), "less": max(0, len(body) - 1), "more": len(body) + 7,
                "junk": "12abc", "negative": -5}[length]
    answer = head(status, declared) + body
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.05)
    done = threading.Event()

    def serve():  # the same answer to every request: a redirect comes back here
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            with conn:
                conn.recv(4096)
                conn.sendall(answer)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    folder = tmp_path_factory.mktemp("cache")
    url = "http://127.0.0.1:%d/names.txt" % listener.getsockname()[1]
    try:
        message = one_line_error(lambda: download.ensure_names(url=url, folder=str(folder), timeout=5, deadline=5))
    finally:
        done.set()
        thread.join(5)
        listener.close()
    assert message.endswith("pass --data FILE to train on a local text file") and url in message
    assert message.isprintable()  # nothing the server sent reaches the terminal as a control code
    assert os.listdir(str(folder)) == []
