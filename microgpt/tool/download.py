"""The datasets known by name (names, shakespeare): downloaded once into the user's cache, verified, and
never kept half-done.

A download can go wrong in more ways than any other input: no network, a wrong address, a server that
answers with an error page, a redirect loop, a connection cut halfway, a server that sends gigabytes, or
one that trickles a byte every few seconds and so never trips a per-read timeout. Each of these ends here
in one line that says what happened, within a deadline on the whole download, in bounded memory, and
leaves the cache as it was: the file appears only whole and with the SHA-256 of the original.

Not part of the learning path: nothing here is about GPTs.
"""

import collections
import hashlib
import http.client
import os
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from ..errors import MicroGPTError
from .console import Interrupted, redraws, stopped_by
from .files import not_written, sha256_of, write_atomic

NAMES_URL = "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"
NAMES_SHA256 = "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"
NAMES_SIZE = 228145  # bytes of the file with that SHA-256
CACHE_ENV = "MICROGPT_CACHE_DIR"  # where the downloaded dataset is kept
URL_ENV = "MICROGPT_NAMES_URL"  # another address for the names file (a mirror; the tests' local server)

# A dataset known by name: its file in the cache, where it comes from, the SHA-256 and size of the original,
# the variable that gives another address for it, and the format it is (None: whatever auto finds).
Named = collections.namedtuple("Named", "title file url sha256 size url_env format")
DATASETS = {
    "names": Named("the names dataset", "names.txt", NAMES_URL, NAMES_SHA256, NAMES_SIZE, URL_ENV, None),
    # Tiny Shakespeare, as in char-rnn and nanoGPT: 40,000 lines of the plays, one continuous text
    "shakespeare": Named("Tiny Shakespeare", "tinyshakespeare.txt",
                         "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
                         "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", 1115394,
                         "MICROGPT_SHAKESPEARE_URL", "text"),
}

TIMEOUT = 30.0  # seconds to connect, and seconds of silence allowed between two reads
DEADLINE = 120.0  # seconds for the whole download: 1.1 MB (Tiny Shakespeare) in two minutes is under 10 KB/s
MAX_BYTES = 4 * 10 ** 6  # a body over 4 MB is none of the datasets (the largest is 1.1 MB): refused, not read
CHUNK = 1 << 16
HINT = "pass --data FILE to train on a local text file"


def cache_dir():
    """$MICROGPT_CACHE_DIR, else $XDG_CACHE_HOME/microgpt, else ~/.cache/microgpt; with no home folder at
    all, the one line that says so."""
    if os.environ.get(CACHE_ENV):
        return os.environ[CACHE_ENV]
    if os.environ.get("XDG_CACHE_HOME"):
        return os.path.join(os.environ["XDG_CACHE_HOME"], "microgpt")
    folder = home()
    if folder is None:
        raise MicroGPTError("no folder to keep the downloaded dataset in: $HOME is empty and the account has no home "
                            "folder; set %s=DIR, or %s" % (CACHE_ENV, HINT))
    return os.path.join(folder, ".cache", "microgpt")


def home():
    """The user's home folder, or None. An empty $HOME names no folder (os.path.expanduser makes it "/", and
    the cache /.cache): the account's own home, from the password database, is taken instead."""
    if os.environ.get("HOME", None) == "" and os.name == "posix":
        try:
            import pwd
            return pwd.getpwuid(os.getuid()).pw_dir or None
        except (ImportError, KeyError):  # an account the system does not know (a container's bare uid)
            return None
    folder = os.path.expanduser("~")
    return None if folder.startswith("~") else folder  # "~" comes back unchanged when no home is known


def is_cached(path, name="names"):
    """Whether `path` holds the dataset `name`. The size is checked first, so a stray huge file is not hashed."""
    spec = DATASETS[name]
    try:
        return os.path.isfile(path) and os.path.getsize(path) == spec.size and sha256_of(path) == spec.sha256
    except OSError:  # unreadable: downloaded again, and the rename over it says if the folder is unwritable
        return False


def not_the_dataset(path, spec):
    """Why the cached file at `path` is not the dataset `spec`, for the warning before it is replaced."""
    try:
        size = os.path.getsize(path)
        if size != spec.size:
            return "%d bytes, where the original has %d" % (size, spec.size)
        return "its SHA-256 is %s, where the original's is %s" % (sha256_of(path), spec.sha256)
    except OSError as e:
        return "it cannot be read: %s" % (e.strerror or e)


def tell(line, stream=None, log=None):
    """A line for the user: to `stream`, else to the callable `log`, else to stderr."""
    if stream is None and log is not None:
        log(line)
    else:
        print(line, file=stream or sys.stderr, flush=True)


def ensure_names(url=None, folder=None, timeout=TIMEOUT, log=None, stream=None, deadline=DEADLINE,
                 max_bytes=MAX_BYTES):
    """Path of names.txt in the cache, downloading and verifying it first if needed: ensure("names")."""
    return ensure("names", url, folder, timeout, log, stream, deadline, max_bytes)


def ensure(name, url=None, folder=None, timeout=TIMEOUT, log=None, stream=None, deadline=DEADLINE,
           max_bytes=MAX_BYTES):
    """Path of the dataset `name` (a key of DATASETS) in the cache, downloading and verifying it first if
    needed.

    The address is `url`, else the dataset's variable ($MICROGPT_NAMES_URL, ...), else its own; whatever it
    is, the bytes must have the SHA-256 of the original file. Progress goes to `stream` (redrawn in place on
    a terminal, one line otherwise) or, as one line, to the callable `log`. A Ctrl-C keeps nothing and is
    re-raised.
    """
    spec = DATASETS[name]
    source = "" if url else (" (from $%s)" % spec.url_env if os.environ.get(spec.url_env) else "")
    url = url or os.environ.get(spec.url_env) or spec.url
    folder = folder or cache_dir()
    path = os.path.join(folder, spec.file)
    if is_cached(path, name):
        return path
    if os.path.lexists(path):  # a file there that is not the dataset: replaced, but never without a word
        tell("warning: %s is not %s (%s); downloading it again" % (path, spec.title, not_the_dataset(path, spec)),
             stream, log)
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # "http://[": not even a URL
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not url.isprintable():
        raise MicroGPTError("cannot download %s from %r%s: not an http:// or https:// address; %s"
                            % (spec.title, url, source, HINT))
    try:  # .port is checked here: http.client would hand getaddrinfo a port past 2**63, an OverflowError
        port_ok = parts.port is None or 0 <= parts.port <= 65535
    except ValueError:
        port_ok = False
    if not port_ok:
        raise MicroGPTError("cannot download %s from %r%s: its port is not a whole number from 0 to 65535; %s"
                            % (spec.title, url, source, HINT))
    progress = Progress(url, path, stream, log, spec.title)
    try:
        body = fetch(url, "%s from %s%s" % (spec.title, url, source), timeout, deadline, max_bytes, progress, spec)
        verify(body, url + source, spec)
        save(path, folder, body)
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM or SIGHUP (console.like_ctrl_c)
        progress.end()
        signum = getattr(e, "signum", signal.SIGINT)
        raise Interrupted("%s while downloading %s; nothing was kept" % (stopped_by(signum), spec.title),
                          signum=signum)
    except BaseException:
        progress.end()
        raise
    progress.done(len(body))
    return path


def resolve(path, log=None, stream=None):
    """The file a run trains on: `path`, or the dataset it names (DATASETS; "" is names), downloaded on
    first use. A name always means the dataset: a file called so is ./shakespeare."""
    name = path or "names"
    return ensure(name, log=log, stream=stream) if name in DATASETS else path


def named_format(path):
    """The format of the dataset `path` names (shakespeare: text), or None: a file, or whatever auto finds."""
    spec = DATASETS.get(path or "names")
    return spec.format if spec else None


def verify(body, where, spec=DATASETS["names"]):
    digest = hashlib.sha256(body).hexdigest()
    if digest != spec.sha256:
        raise MicroGPTError("the download from %s is not %s: %d bytes with SHA-256 %s, expected %d bytes with "
                            "SHA-256 %s; %s" % (where, spec.title, len(body), digest, spec.size, spec.sha256, HINT))


def save(path, folder, body):
    """Into the cache by an atomic rename: a reader, or a second download at the same time, sees the old
    file or the whole new one, and both downloads write the same verified bytes."""
    try:
        os.makedirs(folder, exist_ok=True)
        write_atomic(path, body)
    except OSError as e:
        raise MicroGPTError("cannot write the dataset to %s (%s); set %s to another folder or %s"
                            % (folder, not_written(e), CACHE_ENV, HINT))


# --------------------------------------------------------------------------------------------------
# the transfer: connect, follow redirects, read within the limits


def fetch(url, where, timeout, deadline, max_bytes, progress, spec=DATASETS["names"]):
    """The body at `url`, at most `max_bytes` of it, within `deadline` seconds; else one-line MicroGPTError
    naming `where` (the address, and where it came from)."""
    watch = Deadline(deadline)
    opener = urllib.request.build_opener(WatchedHTTP(watch), WatchedHTTPS(watch), Redirects())
    try:
        with watch:
            with opener.open(url, timeout=min(timeout, deadline)) as response:
                body = read_body(response, where, max_bytes, progress, spec)
            if watch.expired:  # the body ended because the deadline shut the socket: it is only a part
                raise failure(where, watch.message())
            return body
    except MicroGPTError:
        if watch.expired:  # the deadline shut the socket, and what that did to the read is beside the point
            raise failure(where, watch.message())
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError, OverflowError) as e:
        raise failure(where, watch.message() if watch.expired else reason(e, timeout))


def failure(where, why):
    # what a server sent (a reason phrase, a Location) may hold escape codes for the user's terminal
    why = "".join(c if c.isprintable() else "?" for c in why)
    return MicroGPTError("could not download %s: %s; %s" % (where, why, HINT))


def read_body(response, where, max_bytes, progress, spec=DATASETS["names"]):
    """Read in chunks, counting: a body over the limit is refused by its Content-Length before any of it is
    read, or as soon as it passes the limit, so memory stays under max_bytes whatever the server sends."""
    expected = content_length(response)
    if expected is not None and expected > max_bytes:
        raise failure(where, "the server offers %s, more than the %s limit (%s is %s)"
                      % (size(expected), size(max_bytes), spec.title, size(spec.size)))
    progress.start(expected)
    chunks, got = [], 0
    while True:
        try:
            chunk = response.read(CHUNK)
        except http.client.IncompleteRead:  # a chunked body cut short
            raise failure(where, "the connection closed before the end of the body")
        if not chunk:
            break
        got += len(chunk)
        if got > max_bytes:
            raise failure(where, "the server sent more than the %s limit (%s is %s)"
                          % (size(max_bytes), spec.title, size(spec.size)))
        chunks.append(chunk)
        progress.update(got)
    progress.update(got, force=True)  # the last figure, whatever the throttle skipped
    if expected is not None and got < expected:
        raise failure(where, "the connection closed after %s of the %s promised" % (size(got), size(expected)))
    if got == 0:
        raise failure(where, "the server sent an empty file")
    return b"".join(chunks)


def content_length(response):
    value = (response.headers.get("Content-Length") or "").strip()
    return int(value) if value.isdigit() else None  # missing or malformed: counted while reading instead


def reason(e, timeout):
    """What went wrong, in words a user can act on, from whichever layer raised it."""
    if isinstance(e, urllib.error.HTTPError):
        if 300 <= e.code < 400:
            where = e.headers.get("Location") if e.headers else None
            if "infinite loop" in str(e.msg):
                return "the server redirects in a loop or too many times (HTTP %d, last to %s)" % (e.code, where)
            if not where:
                return "the server sent a redirect (HTTP %d) without saying where to" % e.code
            return "the server sent a redirect that cannot be followed (HTTP %d to %s)" % (e.code, where)
        return "the server answered HTTP %d (%s)" % (e.code, e.reason)
    inner = e.reason if isinstance(e, urllib.error.URLError) else e  # the socket's error, or a str
    if isinstance(inner, (socket.timeout, TimeoutError)):
        return "no answer for %g s (timed out)" % timeout
    if isinstance(inner, socket.gaierror):
        return "cannot look up the host name (no network, or a wrong address?)"
    if isinstance(inner, ConnectionRefusedError):
        return "connection refused (nothing listens there: is the address right?)"
    if isinstance(inner, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)):
        return "the server closed the connection without an answer"
    if isinstance(inner, http.client.InvalidURL):
        return "not a valid address (%s)" % inner
    if isinstance(inner, http.client.HTTPException):
        return "the answer is not HTTP (is it the right address and port?)"
    if isinstance(inner, ssl.SSLError):
        return "the secure connection failed (%s)" % (getattr(inner, "verify_message", None) or inner.reason
                                                     or first_line(inner))
    if isinstance(inner, OSError) and inner.strerror:
        return "%s (is the network up?)" % inner.strerror
    return first_line(inner)


def first_line(e):
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


class Redirects(urllib.request.HTTPRedirectHandler):
    """A few redirects, and a loop is caught on its second round rather than its fourth."""
    max_repeats = 1
    max_redirections = 5

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):  # urllib would follow ftp:// too
            raise urllib.error.HTTPError(req.full_url, code, msg, headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


# --------------------------------------------------------------------------------------------------
# the deadline: a timer that shuts the download's sockets, whatever read or header they are blocked in


class Deadline:
    """A per-read timeout cannot stop a server that sends a byte every few seconds; this timer can. When it
    fires it shuts down every socket of the download, so the blocked read returns at once (with nothing,
    or an error), and `expired` tells the failure apart from a real cut."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.sockets = []
        self.expired = False
        self.why = None  # what ran out of time, when it was not the transfer
        self.lock = threading.Lock()
        self.timer = threading.Timer(seconds, self.expire)
        self.timer.daemon = True  # never keeps the process alive
        self.start = time.monotonic()

    def __enter__(self):
        self.start = time.monotonic()
        self.timer.start()
        return self

    def lookup(self, host, port):
        """socket.getaddrinfo within what is left of the deadline. It takes no timeout and no socket is open
        yet for the timer to shut: it runs in a thread of its own, left behind if the deadline passes."""
        found = {}

        def look():
            try:
                found["addresses"] = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
            except Exception as e:  # socket.gaierror, and whatever else the lookup raises: for the caller
                found["error"] = e
        thread = threading.Thread(target=look, daemon=True)
        thread.start()
        thread.join(max(0.0, self.seconds - (time.monotonic() - self.start)))
        if thread.is_alive():
            self.why = "the host name %s was not looked up within the %g s deadline (no network, or a slow name " \
                       "server?)" % (host, self.seconds)
            self.expired = True
            raise socket.timeout(self.why)
        if "error" in found:
            raise found["error"]
        return found["addresses"]

    def create_connection(self, address, *options):
        """socket.create_connection (http.client's way to connect), with the name looked up by lookup:
        each address found in turn (a number: nothing more to look up), the first that answers kept."""
        error = OSError("no address found for %s" % address[0])
        for *_, sockaddr in self.lookup(*address):
            try:
                return socket.create_connection(sockaddr[:2], *options)  # options: timeout, source address
            except OSError as e:
                error = e
        raise error

    def __exit__(self, *exc):
        self.timer.cancel()

    def watch(self, sock):
        with self.lock:
            self.sockets.append(sock)
            if self.expired:
                shut(sock)

    def expire(self):
        with self.lock:
            self.expired = True
            for sock in self.sockets:
                shut(sock)

    def message(self):
        return self.why or "not done within the %g s deadline (the server sends too slowly)" % self.seconds


def shut(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed
        pass


def watched(connection_class, watch):
    """`connection_class` with its name looked up within the deadline, and its socket handed to `watch` as
    soon as it is connected."""
    class Watched(connection_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = watch.create_connection

        def connect(self):
            super().connect()
            watch.watch(self.sock)
    return Watched


class WatchedHTTP(urllib.request.HTTPHandler):
    def __init__(self, watch):
        super().__init__()
        self.connection = watched(http.client.HTTPConnection, watch)

    def http_open(self, req):
        return self.do_open(self.connection, req)


class WatchedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, watch):
        super().__init__()
        self.connection = watched(http.client.HTTPSConnection, watch)

    def https_open(self, req):
        return self.do_open(self.connection, req, context=self._context)


# --------------------------------------------------------------------------------------------------
# progress on stderr


def size(n):
    return "%d bytes" % n if n < 10000 else ("%.1f KB" % (n / 1e3) if n < 10 ** 6 else "%.1f MB" % (n / 1e6))


class Progress:
    """What is fetched and how far: one line that names the address and the file, then, on a terminal only,
    a short line below it redrawn in place (at most ten times a second) with the bytes so far. Anywhere else
    (a log file, a pipe) the first line is all."""

    def __init__(self, url, path, stream=None, log=None, title=DATASETS["names"].title):
        self.stream = stream
        self.tty = stream is not None and redraws(stream)  # TERM=dumb: the first line only, as in a log
        self.total, self.drawn, self.width, self.last = None, False, 0, 0.0
        line = "downloading %s from %s to %s" % (title, url, path)
        if stream is not None:
            print(line, file=stream, flush=True)
        elif log is not None:
            log(line)

    def draw(self, line):
        # kept short, so it never wraps: a wrapped line cannot be redrawn with a carriage return
        self.stream.write("\r" + line + " " * max(0, self.width - len(line)))
        self.stream.flush()
        self.width, self.drawn = len(line), True

    def start(self, total):
        self.total = total
        self.update(0, force=True)

    def update(self, got, force=False):
        now = time.monotonic()
        if not self.tty or (not force and now - self.last < 0.1):
            return
        self.last = now
        if self.total:
            self.draw("  %d%% (%s of %s)" % (100 * got // self.total, size(got), size(self.total)))
        else:
            self.draw("  %s" % size(got))

    def done(self, got):
        if self.tty:
            self.draw("  %s, verified" % size(got))
            self.end()

    def end(self):
        """Finish the line on a terminal, so that an error or the run's output starts at its beginning."""
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
