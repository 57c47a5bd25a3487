#!/usr/bin/env python3
"""Browser test of the dashboard (`make ui-test`).

Starts a live `rada serve` (the embedded model, or `--backend synthetic`) with two API keys,
drives Debian's headless chromium through the DevTools protocol over a pipe
(`--remote-debugging-pipe`: NUL-separated JSON on file descriptors 3 and 4, so no WebSocket
client and nothing from the network), and checks with numbers that the page shows what the
API holds: it types the key, creates a stream with the page's form, classifies Fashion-MNIST
test images through the drop zone's file input, saves a checkpoint, restores it and resets the
stream, comparing the charts' points, marks and last values and the counters with
`GET /v1/streams/{id}/history` and `GET /v1/streams/{id}` after each step. Screenshots go to
--out. Standard library only.
"""
import argparse
import base64
import fcntl
import gzip
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib

FASHION = "/usr/share/datasets/fashion-mnist"
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
KEY, OTHER_KEY = "ui-test-key-alice", "ui-test-key-bob"


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)
    print("  ok:", message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def png(gray, width, height):
    """An 8-bit grayscale PNG of `gray` (row-major bytes)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + gray[y * width:(y + 1) * width] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def fashion_images(directory, count):
    """The first `count` Fashion-MNIST test images as PNG files (as the embedded model was trained
    on them: light garment on black), with their true labels."""
    with gzip.open(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")) as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 2051 or n < count:
            raise Failure("unexpected Fashion-MNIST image file")
        pixels = f.read(count * rows * cols)
    with gzip.open(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz")) as f:
        f.read(8)
        labels = list(f.read(count))
    paths = []
    for i in range(count):
        image = pixels[i * rows * cols:(i + 1) * rows * cols]
        path = os.path.join(directory, "fashion-%03d-%s.png" % (i, LABELS[labels[i]].replace("/", "-").replace(" ", "-").lower()))
        with open(path, "wb") as f:
            f.write(png(image, cols, rows))
        paths.append(path)
    return paths, labels


class API:
    def __init__(self, port, key):
        self.base, self.key = "http://127.0.0.1:%d" % port, key

    def request(self, method, path, body=None):
        headers = {"Authorization": "Bearer " + self.key}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()

    def json(self, method, path, body=None):
        return json.loads(self.request(method, path, body)[2])


class Browser:
    """Headless chromium driven over --remote-debugging-pipe."""

    def __init__(self, executable, profile):
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def plumb():
            # The browser reads commands from fd 3 and writes answers to fd 4.
            # Copies above 9 first, so that dup2 always makes a new, inheritable descriptor.
            high_r, high_w = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10), fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.process = subprocess.Popen(
            [executable, "--headless=new", "--remote-debugging-pipe", "--no-first-run", "--no-default-browser-check",
             "--disable-gpu", "--disable-extensions", "--disable-background-networking", "--disable-sync",
             "--no-sandbox", "--user-data-dir=" + profile, "--window-size=1280,1400", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # Python's own descriptors are close-on-exec, so only 0-4 reach the browser.
            preexec_fn=plumb, close_fds=False)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def send(self, method, params=None, session=True):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self.read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise Failure("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})
            self.events.append(reply)

    def read(self):
        while b"\0" not in self.buffer:
            data = os.read(self.from_browser, 1 << 20)
            if not data:
                raise Failure("chromium closed the DevTools pipe")
            self.buffer += data
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def open(self, url):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "DOM"):
            self.send(domain + ".enable")
        self.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 1400, "deviceScaleFactor": 1, "mobile": False})
        self.send("Page.navigate", {"url": url})
        self.wait("document.readyState === 'complete' && document.getElementById('login') !== null", "the page loads")

    def eval(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise Failure("script error in %r: %s" % (expression, result["exceptionDetails"].get("text")))
        return result["result"].get("value")

    def wait(self, expression, what, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.eval(expression):
                return
            time.sleep(0.1)
        raise Failure("timed out waiting until " + what + " (" + expression + ")")

    def type_into(self, element_id, text):
        self.eval("document.getElementById(%s).focus()" % json.dumps(element_id))
        self.send("Input.insertText", {"text": text})

    def click(self, selector):
        self.eval("document.querySelector(%s).click()" % json.dumps(selector))

    def set_files(self, selector, paths):
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        self.send("DOM.setFileInputFiles", {"nodeId": node, "files": paths})

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        print("  screenshot:", path)

    def close(self):
        try:
            self.send("Browser.close", session=False)
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def page_numbers(browser):
    """What the page shows, read from the DOM."""
    return browser.eval("""(() => {
        const chart = (id) => document.getElementById(id);
        const polyline = chart('chart-entropy').querySelector('polyline');
        return {
            requests: Number(document.getElementById('c-requests').textContent),
            samples: Number(document.getElementById('c-samples').textContent),
            optimizer: Number(document.getElementById('c-optimizer').textContent),
            points: Number(document.getElementById('c-points').textContent),
            centring: document.getElementById('c-centring').textContent,
            entropyPoints: Number(chart('chart-entropy').dataset.points),
            confidencePoints: Number(chart('chart-confidence').dataset.points),
            classBars: chart('chart-classes').querySelectorAll('g.bar').length,
            classRects: [...chart('chart-classes').querySelectorAll('g.bar')].map((g) => g.querySelectorAll('rect').length),
            polylineVertices: polyline ? polyline.getAttribute('points').trim().split(/\\s+/).length : 0,
            lastEntropy: Number(chart('chart-entropy').dataset.last),
            lastConfidence: Number(chart('chart-confidence').dataset.last),
            marks: [...chart('chart-entropy').querySelectorAll('line.mark')].map((l) => l.dataset.kind),
            checkpoints: [...document.querySelectorAll('#checkpoints [data-restore]')].map((b) => b.dataset.restore),
            results: [...document.querySelectorAll('#results .result')].map((r) => r.querySelectorAll('tr').length),
        };
    })()""")


def agree(browser, api, stream, what):
    """Waits until the page shows the API's numbers for `stream`, then checks every one."""
    history = api.json("GET", "/v1/streams/%s/history" % stream)
    info = api.json("GET", "/v1/streams/%s" % stream)
    requests = [e for e in history["entries"] if e["kind"] == "request"]
    browser.wait("Number(document.getElementById('c-requests').textContent) === %d && "
                 "Number(document.getElementById('chart-entropy').dataset.points) === %d && "
                 "document.getElementById('chart-entropy').querySelectorAll('line.mark').length === %d"
                 % (info["requests"], len(requests), len([e for e in history["entries"] if e["kind"] != "request"])
                    + sum(1 for e in requests if e.get("automaticReset"))), what)
    shown = page_numbers(browser)
    check(shown["requests"] == info["requests"] and shown["samples"] == info["samplesSeen"] and shown["optimizer"] == info["optimizerSteps"],
          "%s: counters %d requests, %d images, %d optimiser steps" % (what, shown["requests"], shown["samples"], shown["optimizer"]))
    centring = "%.2f (H %.3f)" % (info["centring"]["share"], info["centring"]["zeroShotEntropy"])
    check(shown["centring"] == centring, "%s: centring shown as %r (the API: %r)" % (what, shown["centring"], centring))
    check(shown["points"] == shown["entropyPoints"] == shown["confidencePoints"] == shown["classBars"] == len(requests),
          "%s: %d points in each chart" % (what, len(requests)))
    check(shown["polylineVertices"] == (len(requests) if requests else 0), "%s: the entropy line has %d vertices" % (what, shown["polylineVertices"]))
    check(shown["classRects"] == [len(e["classes"]) for e in requests], "%s: class-mix bars have the history's classes" % what)
    if requests:
        check(abs(shown["lastEntropy"] - requests[-1]["meanEntropy"]) < 1e-5 and abs(shown["lastConfidence"] - requests[-1]["meanConfidence"]) < 1e-5,
              "%s: last point entropy %.4f, confidence %.4f as in the history" % (what, shown["lastEntropy"], shown["lastConfidence"]))
    marks = [e["kind"] for e in history["entries"] if e["kind"] != "request"]
    check(sorted(shown["marks"]) == sorted(marks + ["auto"] * sum(1 for e in requests if e.get("automaticReset"))),
          "%s: marks %s" % (what, shown["marks"]))
    check(sorted(shown["checkpoints"]) == sorted(info["checkpoints"]), "%s: checkpoints %s" % (what, shown["checkpoints"]))
    return shown, history, info


def classify(browser, api, stream, paths, what):
    before = api.json("GET", "/v1/streams/%s" % stream)["requests"]
    browser.set_files("#files", paths)
    browser.wait("document.querySelectorAll('#results .result').length === %d && Number(document.getElementById('c-requests').textContent) === %d"
                 % (len(paths), before + 1), what)
    return agree(browser, api, stream, what)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rada", default=".build/release/rada")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    parser.add_argument("--backend", default="clip", choices=["clip", "synthetic"])
    parser.add_argument("--out", default="ui-test-out")
    parser.add_argument("--docs-image", help="also copy the main screenshot here (Docs/img/ui-dashboard.png)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="rada-ui-test-")
    port = free_port()
    keys = os.path.join(work, "keys")
    with open(keys, "w") as f:
        f.write("alice %s\nbob %s\n" % (KEY, OTHER_KEY))
    command = [args.rada, "serve", "--port", str(port), "--data-dir", os.path.join(work, "data"), "--api-keys", keys, "--backend", args.backend]
    if args.backend == "synthetic":
        command += ["--synthetic-dimension", "64"]
    log = open(os.path.join(args.out, "server.log"), "w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    browser = None
    try:
        api, other = API(port, KEY), API(port, OTHER_KEY)
        deadline = time.time() + 120
        while True:
            try:
                if urllib.request.urlopen(api.base + "/readyz", timeout=2).status == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.time() > deadline or server.poll() is not None:
                raise Failure("the server did not become ready (see %s/server.log)" % args.out)
            time.sleep(0.2)
        print("server ready on port", port)

        with urllib.request.urlopen(api.base + "/ui", timeout=10) as page:
            status, csp = page.status, page.headers.get("Content-Security-Policy", "")
        check(status == 200 and "script-src 'self'" in csp and "unsafe-inline" not in csp, "GET /ui without a key: 200 with a strict CSP")
        other.json("POST", "/v1/streams", {"id": "bobs-stream", "labels": ["x", "y"]})

        paths, truth = fashion_images(work, 24)
        browser = Browser(args.chromium, os.path.join(work, "profile"))
        browser.open(api.base + "/ui")
        browser.type_into("key", "wrong-key")
        browser.click("#login-form button")
        browser.wait("document.getElementById('login-error').textContent.length > 0", "a wrong key is refused")
        check(browser.eval("document.getElementById('app').hidden && sessionStorage.length === 0"), "a wrong key is not kept")
        browser.eval("document.getElementById('key').value = ''")
        browser.type_into("key", KEY)
        browser.click("#login-form button")
        browser.wait("!document.getElementById('app').hidden", "the key is accepted")
        check(browser.eval("sessionStorage.getItem('rada.key')") == KEY and browser.eval("localStorage.length") == 0,
              "the key is in sessionStorage only")

        browser.type_into("new-id", "wardrobe")
        browser.type_into("new-labels", ", ".join(LABELS))
        browser.click("#create-form button")
        browser.wait("document.getElementById('stream-title').textContent === 'wardrobe'", "the new stream is selected")
        streams = browser.eval("[...document.querySelectorAll('#streams [data-stream]')].map((b) => b.dataset.stream)")
        check(streams == ["wardrobe"], "the list shows the key's own stream only: %s" % streams)
        check(api.json("GET", "/v1/streams/wardrobe")["labels"] == LABELS, "the stream exists with the typed labels")
        agree(browser, api, "wardrobe", "empty stream")

        batches = [paths[0:3], paths[3:4], paths[4:8], paths[8:10], paths[10:11], paths[11:14]]
        for i, batch in enumerate(batches):
            shown, _, _ = classify(browser, api, "wardrobe", batch, "after request %d (%d images)" % (i + 1, len(batch)))
        check(shown["results"] == [5] * len(batches[-1]), "top-5 shown for each image of the last request")

        browser.type_into("checkpoint-name", "morning")
        browser.click("#checkpoint-form button")
        browser.wait("document.querySelectorAll('#checkpoints [data-restore]').length === 1", "the checkpoint appears")
        agree(browser, api, "wardrobe", "after the checkpoint")
        for i, batch in enumerate([paths[14:17], paths[17:20]]):
            classify(browser, api, "wardrobe", batch, "after checkpoint, request %d" % (i + 1))
        browser.click("#checkpoints [data-restore='morning']")
        # As for the reset below: read the API once the page shows the restore's answer, not
        # while the restore may still be in flight (the history read before it and the counters
        # after gave a wait that could never be met).
        browser.wait("Number(document.getElementById('c-requests').textContent) === %d" % len(batches), "the restore is applied")
        shown, history, info = agree(browser, api, "wardrobe", "after the restore")
        check(info["requests"] == len(batches), "restore brings the counters back to %d requests" % len(batches))
        classify(browser, api, "wardrobe", paths[20:24], "after the restore, one more request")
        browser.screenshot(os.path.join(args.out, "dashboard.png"))

        browser.click("#reset")
        # The page shows 0 requests only once its POST has returned: read the API after that, not
        # while the reset may still be in flight.
        browser.wait("Number(document.getElementById('c-requests').textContent) === 0", "the reset is applied")
        shown, history, info = agree(browser, api, "wardrobe", "after the reset")
        check(shown["points"] == 0 and shown["marks"] == ["reset"] and info["requests"] == 0, "reset clears the charts and leaves its mark")
        classify(browser, api, "wardrobe", paths[0:2], "after the reset, one request")
        browser.screenshot(os.path.join(args.out, "after-reset.png"))

        violations = [e for e in browser.events if e.get("method") == "Log.entryAdded"
                      and "Content Security Policy" in e["params"]["entry"].get("text", "")]
        check(not violations, "no Content-Security-Policy violations (%d)" % len(violations))
        errors = [e for e in browser.events if e.get("method") == "Runtime.exceptionThrown"]
        check(not errors, "no uncaught script errors (%d)" % len(errors))
        if args.docs_image:
            shutil.copyfile(os.path.join(args.out, "dashboard.png"), args.docs_image)
            print("  copied to", args.docs_image)
        print("ui-test: passed")
        return 0
    except Failure as failure:
        print("ui-test: FAILED:", failure)
        if browser:
            try:
                browser.screenshot(os.path.join(args.out, "failure.png"))
            except Exception:
                pass
        return 1
    finally:
        if browser:
            browser.close()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
