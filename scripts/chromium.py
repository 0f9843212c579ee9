"""Headless Chromium driven over the DevTools protocol on a pipe: open a page, collect its console
errors and network requests, read values out of it, take a screenshot.

For the report's browser test and scripts/screenshot_report.py. Standard library only, and no
websocket: started with --remote-debugging-pipe, Chromium reads commands from its file descriptor 3
and writes answers and events to 4, one JSON message each, ended by a NUL byte.
"""

import base64
import itertools
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

# Headless, and quiet on the network: without these Chromium tries to reach its update, sync and
# field-trial servers, and a root user (CI) needs --no-sandbox.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--hide-scrollbars", "--mute-audio"]


def find():
    """The Chromium binary on PATH, or None."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One headless Chromium with a fresh profile, removed again by close()."""

    def __init__(self, binary=None, timeout=60.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="microgpt-chromium-")
        commands_in, self.commands = os.pipe()  # we write commands, Chromium reads them as fd 3
        self.answers, answers_out = os.pipe()  # Chromium writes answers as fd 4, we read them

        def as_fds_3_and_4():  # in the child, before exec: dup first, so that neither clobbers the other
            a, b = os.dup(commands_in), os.dup(answers_out)
            os.dup2(a, 3)
            os.dup2(b, 4)

        log = open(os.path.join(self.profile, "chromium.log"), "wb")
        self.process = subprocess.Popen(
            [binary or find()] + FLAGS + ["--user-data-dir=" + self.profile, "--remote-debugging-pipe",
                                          "about:blank"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=(3, 4), preexec_fn=as_fds_3_and_4)
        log.close()
        os.close(commands_in)
        os.close(answers_out)
        self.ids, self.buffer, self.events = itertools.count(1), b"", []

    def send(self, method, params=None, session=None):
        """Run one protocol command and return its result; events that arrive meanwhile are kept."""
        number = next(self.ids)
        message = {"id": number, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self.receive()
            if reply.get("id") == number:
                if "error" in reply:
                    raise RuntimeError("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})
            self.events.append(reply)

    def receive(self, timeout=None):
        deadline = time.time() + (self.timeout if timeout is None else timeout)
        while b"\0" not in self.buffer:
            left = deadline - time.time()
            if left <= 0 or not select.select([self.answers], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self.answers, 1 << 20)
            if not chunk:
                raise EOFError("Chromium exited")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message.decode("utf-8"))

    def wait_for(self, method, session, timeout=None):
        """The first event `method` of `session`, waiting for it if it has not come yet."""
        deadline = time.time() + (self.timeout if timeout is None else timeout)
        while True:
            for event in self.events:
                if event.get("method") == method and event.get("sessionId") == session:
                    return event
            self.events.append(self.receive(max(deadline - time.time(), 0.001)))

    def page(self, width=1000, height=800):
        return Page(self, width, height)

    def close(self):
        try:
            if self.process.poll() is None:
                self.send("Browser.close")
                self.process.wait(timeout=10)
        except (OSError, RuntimeError, TimeoutError, EOFError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self.commands)
            os.close(self.answers)
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Page:
    """A tab of its own, attached in "flat" mode: its commands carry its session id."""

    def __init__(self, browser, width, height):
        self.browser = browser
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network", "DOM", "CSS"):
            self.send(domain + ".enable")
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                         "deviceScaleFactor": 1, "mobile": False})

    def send(self, method, params=None):
        return self.browser.send(method, params, self.session)

    def open(self, url):
        """Load `url` and wait for its load event."""
        self.send("Page.navigate", {"url": url})
        self.browser.wait_for("Page.loadEventFired", self.session)

    def mine(self, method):
        return [e["params"] for e in self.browser.events
                if e.get("method") == method and e.get("sessionId") == self.session]

    def errors(self):
        """Exceptions, console.error calls and errors the browser logged for this page."""
        found = ["exception: %s" % e["exceptionDetails"].get("text") for e in self.mine("Runtime.exceptionThrown")]
        found += ["console.%s: %s" % (e["type"], [a.get("value", a.get("description")) for a in e["args"]])
                  for e in self.mine("Runtime.consoleAPICalled") if e["type"] in ("error", "assert")]
        found += ["log: %s %s" % (e["entry"]["text"], e["entry"].get("url", ""))
                  for e in self.mine("Log.entryAdded") if e["entry"]["level"] == "error"]
        return found

    def requests(self):
        """The URL of every request the page made, its own included."""
        return [e["request"]["url"] for e in self.mine("Network.requestWillBeSent")]

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (JSON-serialisable)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError("in the page: %s" % result["exceptionDetails"].get("text"))
        return result["result"].get("value")

    def fonts(self, selector):
        """The fonts that render the text of the first element matching `selector`: [(family, glyphs)]."""
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        fonts = self.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        return [(f["familyName"], f["glyphCount"]) for f in fonts]

    def screenshot(self, path, scale=1.0):
        """The whole page, not only the window, as a PNG file."""
        size = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        shot = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": scale}})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        return size
