#!/usr/bin/env python3
"""Every hostile input of issue #11 against a running `rada serve`, black box (standard library only);
item 10 (request bodies withheld to hold memory) came later.

For each attack it prints the HTTP status and error code, the wall time, the server's RSS
before/after and its peak RSS (VmHWM, from /proc/PID/status: give --pid), then checks that the
server still answers /healthz and that the victim stream's state is byte-identical (a checkpoint
taken before and after). Last, a concurrency phase: 4 clients send worst-case image requests
at once while a well-behaved client sends 1-image classify requests; it reports the light
client's p50/p99 and the server's peak RSS sampled every 20 ms. All traffic goes to the URL
given (loopback); every loop is bounded in count and time. The attacks of one run change
nothing: the victim stream's checkpoint bytes must be identical before and after each one that
is refused.

    rada serve --port 18090 --data-dir /tmp/rada-hostile &
    python3 tools/hostile_check.py --url http://127.0.0.1:18090 --pid $! --json out.json
"""
import argparse
import base64
import http.client
import json
import socket
import struct
import sys
import threading
import time
import urllib.parse
import zlib

LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width, height, bit_depth=8, color_type=0, row=None):
    """A PNG of one repeated row (compresses to almost nothing however large it claims to be)."""
    bits = {0: 1, 2: 3}[color_type] * bit_depth
    row_bytes = (width * bits + 7) // 8
    row = row if row is not None else bytes((i * 37) & 255 for i in range(row_bytes))
    compressor = zlib.compressobj(9)
    data = b""
    line = b"\x00" + row
    # Feed in bounded pieces: a 16-megapixel 1-bit image is 2 MB raw, compressed to ~2 KB.
    block = line * max(1, 1_000_000 // len(line))
    rows_left = height
    per_block = len(block) // len(line)
    while rows_left > 0:
        n = min(rows_left, per_block)
        data += compressor.compress(block[: n * len(line)])
        rows_left -= n
    data += compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def small_png(seed):
    rows = b"".join(b"\x00" + bytes(((x * 9 + seed * 37 + y) & 255) for x in range(28)) for y in range(28))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class Server:
    def __init__(self, url, key, pid):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.key = key
        self.pid = pid

    def request(self, method, path, body=None, content_type=None, headers=None, timeout=120):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        all_headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        if content_type:
            all_headers["Content-Type"] = content_type
        all_headers.update(headers or {})
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            return response.status, response.read(), dict(response.getheaders())
        finally:
            connection.close()

    def json(self, method, path, value):
        return self.request(method, path, json.dumps(value).encode(), "application/json")

    def memory(self):
        """(VmRSS, VmHWM) in MiB, or (None, None) without --pid."""
        if not self.pid:
            return None, None
        values = {}
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, amount = line.split(":")
                    values[key] = int(amount.split()[0]) / 1024
        return values.get("VmRSS"), values.get("VmHWM")

    def alive(self):
        try:
            return self.request("GET", "/healthz", timeout=10)[0] == 200
        except OSError:
            return False

    def state(self, stream, tag):
        """The stream's full state: a checkpoint's bytes (then deleted)."""
        name = f"probe-{tag}"
        self.json("POST", f"/v1/streams/{stream}/checkpoints", {"name": name})
        _, data, _ = self.request("GET", f"/v1/streams/{stream}/checkpoints/{name}")
        self.request("DELETE", f"/v1/streams/{stream}/checkpoints/{name}")
        return data


def code_of(body):
    try:
        return json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return "-"


def safetensors(header, data=b""):
    raw = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def edited_checkpoint(data, edit):
    length = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + length])
    meta = json.loads(header["__metadata__"]["rada.stream"])
    edit(meta)
    header["__metadata__"]["rada.stream"] = json.dumps(meta, sort_keys=True, separators=(",", ":"))
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((-len(raw) - 8) % 8)
    return struct.pack("<Q", len(raw)) + raw + data[8 + length:]


def overwritten_tensor(data, name, value):
    """The checkpoint with every element of tensor `name` (F32) set to `value`."""
    length = struct.unpack("<Q", data[:8])[0]
    begin, end = json.loads(data[8:8 + length])[name]["data_offsets"]
    start = 8 + length
    return data[:start + begin] + struct.pack("<f", value) * ((end - begin) // 4) + data[start + end:]


def multipart(files, boundary="rada-boundary", close=True):
    body = b""
    for i, data in enumerate(files):
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{i}.png\"\r\n"
                 "Content-Type: image/png\r\n\r\n").encode() + data + b"\r\n"
    if close:
        body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def raw_exchange(server, payload, wait=10):
    """Sends raw bytes on a fresh socket; returns the status line (or what happened)."""
    with socket.create_connection((server.host, server.port), timeout=wait) as s:
        s.sendall(payload)
        try:
            data = s.recv(4096)
        except socket.timeout:
            return "no answer"
    return data.split(b"\r\n", 1)[0].decode(errors="replace") or "closed"


def idle_connections(server, count, hold):
    """Opens `count` idle connections, then times a normal request; returns (opened, status, seconds)."""
    sockets = []
    try:
        for _ in range(count):
            try:
                sockets.append(socket.create_connection((server.host, server.port), timeout=5))
            except OSError:
                break
        time.sleep(hold)
        start = time.monotonic()
        try:
            status = server.request("GET", "/healthz", timeout=60)[0]
        except OSError as error:
            status = f"error {error.__class__.__name__}"
        return len(sockets), status, time.monotonic() - start
    finally:
        for s in sockets:
            s.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--key")
    parser.add_argument("--pid", type=int, help="the server's pid, for RSS from /proc")
    parser.add_argument("--idle-connections", type=int, default=2000)
    parser.add_argument("--light-seconds", type=float, default=20)
    parser.add_argument("--heavy-images", type=int, default=4, help="4000x4000 images per heavy request")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    server = Server(args.url, args.key, args.pid)
    if not server.alive():
        sys.exit(f"no server answers at {args.url}")
    stream = f"victim-{int(time.time())}"
    status, body, _ = server.json("POST", "/v1/streams", {"id": stream, "labels": LABELS})
    if status != 201:
        sys.exit(f"cannot create the victim stream: {status} {body[:200]}")
    server.request("POST", f"/v1/streams/{stream}/classify", *multipart([small_png(1)]))
    good = server.state(stream, "good")
    results = []

    def attack(name, run, expect):
        before = server.state(stream, "before")
        rss0, _ = server.memory()
        start = time.monotonic()
        try:
            status, code = run()
        except OSError as error:
            status, code = "error", error.__class__.__name__
        seconds = time.monotonic() - start
        rss1, hwm = server.memory()
        alive = server.alive()
        unchanged = server.state(stream, "after") == before
        row = {"attack": name, "status": status, "code": code, "expected": expect, "seconds": round(seconds, 3),
               "rss_before_mib": rss0 and round(rss0), "rss_after_mib": rss1 and round(rss1), "peak_rss_mib": hwm and round(hwm),
               # An accepted request may move the stream (that is its job); a refused one may not.
               "alive": alive, "stream_unchanged": unchanged,
               "ok": str(status) in expect.split("|") and alive and (unchanged or status == 200)}
        results.append(row)
        print(f"{'ok ' if row['ok'] else 'BAD'} {name:58s} {status!s:>5} {code:24s} {seconds:7.3f} s  "
              f"RSS {row['rss_before_mib']}→{row['rss_after_mib']} MiB (peak {row['peak_rss_mib']})", flush=True)

    def send(method, path, body=None, content_type=None, headers=None):
        status, data, _ = server.request(method, path, body, content_type, headers)
        return status, code_of(data)

    def stateless(images):
        return send("POST", "/v1/classify", json.dumps({"labels": LABELS[:3], "images": [base64.b64encode(i).decode() for i in images]}).encode(),
                    "application/json")

    st = f"/v1/streams/{stream}"
    octet = "application/octet-stream"
    attack("1 checkpoint: shape [2^31-1, 2^31-1], offsets [0, 0]",
           lambda: send("PUT", f"{st}/checkpoints/x1", safetensors({"x": {"dtype": "F32", "shape": [2147483647, 2147483647], "data_offsets": [0, 0]}}), octet), "422")
    for counter in ["batchesSeen", "samplesSeen", "optimizerSteps"]:
        poisoned = edited_checkpoint(good, lambda m: m["counters"].__setitem__(counter, 2**63 - 1))
        attack(f"2 checkpoint: counters.{counter} = 2^63-1", lambda: send("PUT", f"{st}/checkpoints/x2", poisoned, octet), "422")
    attack("2 checkpoint: optimizerStep = 2^63-1",
           lambda: send("PUT", f"{st}/checkpoints/x2", edited_checkpoint(good, lambda m: m.__setitem__("optimizerStep", 2**63 - 1)), octet), "422")
    # Refused, or handled in bounded memory (this server computes only the model's crop).
    attack("3 image 16,000,000 x 1 (stateless)", lambda: stateless([png(16_000_000, 1, 1, 0)]), "200|413|422")
    attack("3 image 1,000,000 x 1 (stateless)", lambda: stateless([png(1_000_000, 1, 1, 0)]), "200|413|422")
    attack("3 image 1,000,000 x 1 (stream, adapt=false)", lambda: send("POST", f"{st}/classify?adapt=false", *multipart([png(1_000_000, 1, 1, 0)])), "200|413|422")
    bomb = png(4000, 4000, 1, 0)
    attack(f"4 64 x 4000x4000 1-bit PNG ({len(bomb)} B each)", lambda: send("POST", f"{st}/classify", *multipart([bomb] * 64)), "413|429|503")
    body, ctype = multipart([small_png(2)], close=False)
    attack("5 multipart without the closing boundary", lambda: send("POST", f"{st}/classify", body, ctype), "400")
    body, ctype = multipart([small_png(3)])
    attack("5 multipart cut inside a part", lambda: send("POST", f"{st}/classify", body[: len(body) // 2], ctype), "400")

    def huge_upload():
        with socket.create_connection((server.host, server.port), timeout=30) as s:
            head = (f"PUT /v1/streams/no-such-stream/checkpoints/big HTTP/1.1\r\nHost: x\r\nContent-Type: {octet}\r\n"
                    f"Content-Length: {500 << 20}\r\n" + (f"Authorization: Bearer {args.key}\r\n" if args.key else "") + "\r\n")
            s.sendall(head.encode() + b"\0" * 65536)
            line = s.recv(4096).split(b"\r\n", 1)[0].decode()
            return int(line.split()[1]), "(status line only)"
    attack("6 checkpoint PUT of 500 MB to a missing stream", huge_upload, "404")

    def huge_own_upload():
        with socket.create_connection((server.host, server.port), timeout=30) as s:
            head = (f"PUT {st}/checkpoints/big HTTP/1.1\r\nHost: x\r\nContent-Type: {octet}\r\nContent-Length: {500 << 20}\r\n"
                    + (f"Authorization: Bearer {args.key}\r\n" if args.key else "") + "\r\n")
            s.sendall(head.encode() + b"\0" * 65536)
            line = s.recv(4096).split(b"\r\n", 1)[0].decode()
            return int(line.split()[1]), "(status line only)"
    attack("6 checkpoint PUT of 500 MB to the stream", huge_own_upload, "413")

    def idle():
        opened, status, seconds = idle_connections(server, args.idle_connections, 1.0)
        return status, f"{opened} idle open, {seconds:.2f} s"
    attack(f"7 {args.idle_connections} idle connections, then a request", idle, "200")
    attack("7 half a request header (slowloris), answer or close",
           lambda: (raw_exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", wait=60), "-"), "closed|HTTP/1.1 408 Request Timeout")
    attack("8 checkpoint: text embeddings 3e38",
           lambda: send("PUT", f"{st}/checkpoints/x8", overwritten_tensor(good, "stream.text_embeddings", 3e38), octet), "422")
    attack("8 checkpoint: logit scale 1e30",
           lambda: send("PUT", f"{st}/checkpoints/x8", edited_checkpoint(good, lambda m: m.__setitem__("logitScale", 1e30)), octet), "422")
    attack("8 checkpoint: negative Adam second moment",
           lambda: send("PUT", f"{st}/checkpoints/x8", overwritten_tensor(good, "optim.exp_avg_sq.mha.k_proj.bias", -1.0), octet), "422")
    attack("8 checkpoint: counters.batchesSeen = -1",
           lambda: send("PUT", f"{st}/checkpoints/x8", edited_checkpoint(good, lambda m: m["counters"].__setitem__("batchesSeen", -1)), octet), "422")
    attack("9 TRACE on a known path", lambda: send("TRACE", st), "405")
    attack("9 Content-Type application/jsonp", lambda: send("POST", "/v1/streams", b"{}", "application/jsonp"), "415")
    attack("9 100 kB URL", lambda: send("GET", "/v1/streams/" + "a" * 100_000), "414")

    def withheld_bodies(count=128, size=31_000_000):
        # Bodies of the largest size, each sent but for its last byte and held: the server may
        # keep only its body-memory budget (a client's share of it with keys), and answers the
        # rest from their heads; a small request is served meanwhile.
        head = (f"POST {st}/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n"
                + (f"Authorization: Bearer {args.key}\r\n" if args.key else "") + "\r\n").encode()
        body = (b'{"images":["' + b"A" * (size - 15) + b'"]}')[:size - 1]
        held = []
        try:
            for _ in range(count):
                s = socket.create_connection((server.host, server.port), timeout=60)
                held.append(s)
                try:
                    s.sendall(head + body)
                except OSError:
                    pass  # answered from its head and ended
            time.sleep(1)
            rss, _ = server.memory()
            status, data, _ = server.request("POST", f"{st}/classify?adapt=false", *multipart([small_png(4)]))
            return status, f"RSS held {rss and round(rss)} MiB"
        finally:
            for s in held:
                s.close()
    attack("10 128 bodies of 31 MB, each withholding its last byte; then a small request", withheld_bodies, "200")

    # Concurrency: 4 worst-case image requests at once, and a light client's latency meanwhile.
    light_times, peak, stop = [], [0.0], threading.Event()

    def sample_rss():
        while not stop.is_set():
            rss, _ = server.memory()
            if rss:
                peak[0] = max(peak[0], rss)
            time.sleep(0.02)

    # The worst request the default limits accept: 4 images of 4000x4000 (16 M pixels each, 64 M
    # together: the per-request limit), 48 MB each once decoded.
    def heavy(outcomes):
        deadline = time.monotonic() + args.light_seconds
        while time.monotonic() < deadline:
            outcomes.append(send("POST", f"{st}/classify?adapt=false", *multipart([bomb] * args.heavy_images))[0])

    light_stream = f"light-{int(time.time())}"
    server.json("POST", "/v1/streams", {"id": light_stream, "labels": LABELS})
    alone = []
    for i in range(50):
        start = time.monotonic()
        server.request("POST", f"/v1/streams/{light_stream}/classify", *multipart([small_png(i)]))
        alone.append(time.monotonic() - start)
    threads = [threading.Thread(target=sample_rss)]
    outcomes = []
    threads += [threading.Thread(target=heavy, args=(outcomes,)) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + args.light_seconds
    i = 0
    while time.monotonic() < deadline:
        start = time.monotonic()
        server.request("POST", f"/v1/streams/{light_stream}/classify", *multipart([small_png(i)]))
        light_times.append(time.monotonic() - start)
        i += 1
    for t in threads[1:]:
        t.join()
    stop.set()
    threads[0].join()

    def percentile(values, q):
        values = sorted(values)
        return values[min(len(values) - 1, int(q * len(values)))] * 1000

    concurrency = {"heavy_requests": len(outcomes), "heavy_statuses": {str(s): outcomes.count(s) for s in set(outcomes)},
                   "light_requests": len(light_times), "light_alone_p50_ms": round(percentile(alone, 0.5), 1),
                   "light_alone_p99_ms": round(percentile(alone, 0.99), 1),
                   "light_p50_ms": round(percentile(light_times, 0.5), 1), "light_p99_ms": round(percentile(light_times, 0.99), 1),
                   "peak_rss_mib": round(peak[0])}
    print("concurrency:", json.dumps(concurrency), flush=True)
    server.request("DELETE", f"/v1/streams/{stream}")
    server.request("DELETE", f"/v1/streams/{light_stream}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"attacks": results, "concurrency": concurrency}, out, indent=1)
    bad = [r["attack"] for r in results if not r["ok"]]
    print(f"{len(results) - len(bad)} passed, {len(bad)} failed")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
