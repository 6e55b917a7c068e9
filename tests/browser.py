"""A headless Chromium driven from Python over the DevTools protocol, through a pipe (`--remote-debugging-pipe`:
JSON messages separated by NUL bytes on file descriptors 3 and 4), so the page tests need no package and no
browser download, only the system's chromium.

    with Browser(chromium) as browser:
        page = browser.open("file:///.../wgangp.html", width=1366)
        page.evaluate("document.title"), page.console_errors, page.screenshot("shot.png")

    python tests/browser.py docs/annotated/wgangp.html --width 800 --out shot.png   # a full-page screenshot
"""
import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time


class BrowserError(Exception):
    pass


def find_chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class Browser:
    def __init__(self, executable, timeout=60):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def wire():  # the browser reads commands on fd 3 and writes replies on fd 4 (kept: close_fds=False)
            commands, replies = os.dup(to_browser_r), os.dup(from_browser_w)  # above 4: neither is overwritten
            os.dup2(commands, 3)
            os.dup2(replies, 4)
            os.set_inheritable(3, True)  # dup2 onto the same number would keep close-on-exec
            os.set_inheritable(4, True)
        self.process = subprocess.Popen(
            [executable, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking", "--disable-sync",
             "--disable-component-update", "--hide-scrollbars", "--allow-file-access-from-files",
             f"--user-data-dir={self.profile}", "about:blank"],
            close_fds=False, preexec_fn=wire, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.buffer, self.next_id, self.events = b"", 0, []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.send("Browser.close")
        except (BrowserError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self.to_browser, self.from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read_message(self, deadline):
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.from_browser], [], [], left)[0]:
                raise BrowserError("chromium did not answer in time")
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise BrowserError(f"chromium exited: {self.process.stderr.read().decode(errors='replace')[-500:]}")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, session=None, **params):
        """One command; its result. Events that arrive meanwhile are kept in self.events."""
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method, session, deadline):
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method and event.get("sessionId") == session:
                    return self.events.pop(i)
            self.events.append(self._read_message(deadline))

    def open(self, url, width, height=900):
        """A new tab of `width` x `height` CSS pixels showing `url`, loaded (its load event fired)."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session)
        self.send("Emulation.setDeviceMetricsOverride", session, width=width, height=height, deviceScaleFactor=1,
                  mobile=False)
        self.send("Page.navigate", session, url=url)
        self.wait_for("Page.loadEventFired", session, time.monotonic() + self.timeout)
        return Page(self, session, target, width, height)


class Page:
    def __init__(self, browser, session, target, width, height):
        self.browser, self.session, self.target, self.width, self.height = browser, session, target, width, height

    def evaluate(self, expression):
        """The value of a JavaScript expression (JSON-able; a promise is awaited)."""
        result = self.browser.send("Runtime.evaluate", self.session, expression=expression, returnByValue=True,
                                   awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"the page's script failed: {result['exceptionDetails'].get('text')} "
                               f"{result['exceptionDetails'].get('exception', {}).get('description', '')}")
        return result["result"].get("value")

    @property
    def console_errors(self):
        """Console errors, uncaught exceptions and failed loads (a missing stylesheet or picture) so far."""
        self.evaluate("0")  # a round trip: the events sent before it have arrived
        out = []
        for event in self.browser.events:
            if event.get("sessionId") != self.session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Runtime.exceptionThrown":
                out.append("exception: " + params["exceptionDetails"].get("text", ""))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                out.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}".strip())
        return out

    def screenshot(self, path, full_page=True):
        size = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        clip = {"x": 0, "y": 0, "width": self.width, "height": size[1] if full_page else self.height, "scale": 1}
        data = self.browser.send("Page.captureScreenshot", self.session, format="png", clip=clip,
                                 captureBeyondViewport=full_page)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        self.browser.send("Target.closeTarget", targetId=self.target)


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description="a full-page screenshot of a local HTML page")
    parser.add_argument("page")
    parser.add_argument("--width", type=int, default=1366)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with Browser(find_chromium()) as browser:
        page = browser.open("file://" + os.path.abspath(args.page), args.width)
        page.screenshot(args.out)
        for line in page.console_errors:
            print(line)
