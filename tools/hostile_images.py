#!/usr/bin/env python3
"""Hostile image load against a running `rada serve` (standard library only; starts nothing).

While N heavy clients (default 4) send worst-case image requests back to back (each request
4 PNGs of 4000x4000 one-colour gray: 16 KB files, 64 M pixels together, the per-request limit
at default settings; or `--kind wide`: one 16,000,000x1 PNG), a well-behaved client sends
single-image stateless classify requests (a 224x224 photo-like PNG) one after another. Prints
the light client's p50/p99/max latency, the heavy requests' statuses, and, given --pid, the
server's peak RSS sampled every 20 ms from /proc/PID/status (plus VmHWM).

    rada serve --port 18091 --data-dir /tmp/rada-hostile &
    python3 tools/hostile_images.py --url http://127.0.0.1:18091 --pid $! --light 200
"""
import argparse
import base64
import http.client
import json
import struct
import sys
import threading
import time
import urllib.parse
import zlib


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width, height, colour_type, rows):
    """A PNG of 8-bit `colour_type` (0 gray, 2 RGB) from raw filtered rows, zlib level 9."""
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def gray_bomb(width, height, value=77):
    """One-colour gray: compresses about a thousandfold, decodes to width*height*3 bytes."""
    compressor = zlib.compressobj(9)
    row = b"\x00" + bytes([value]) * width
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def photo(size, seed):
    rows = b"".join(
        b"\x00" + bytes(((x * 9 + seed * 37) & 255, (y * 7 + seed * 111) & 255, ((x + y) * 5 + seed * 407) & 255)[c]
                        for x in range(size) for c in range(3))
        for y in range(size))
    return png(size, size, 2, rows)


def body(images):
    return json.dumps({"labels": ["cat", "dog", "bird"], "images": [base64.b64encode(i).decode() for i in images]}).encode()


class Client:
    def __init__(self, url, key, timeout):
        parsed = urllib.parse.urlparse(url)
        self.host, self.port = parsed.hostname, parsed.port or 80
        self.headers = {"Content-Type": "application/json"}
        if key:
            self.headers["Authorization"] = "Bearer " + key
        self.timeout = timeout
        self.connection = None

    def post(self, path, payload):
        for attempt in range(2):
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.connection.request("POST", path, payload, self.headers)
                response = self.connection.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.connection.close()
                    self.connection = None
                return response.status, data
            except (ConnectionError, http.client.HTTPException, OSError):
                if self.connection is not None:
                    self.connection.close()
                self.connection = None
                if attempt == 1:
                    return 0, b""


def rss_kib(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--key", help="API key (Bearer), if the server has keys")
    parser.add_argument("--pid", type=int, help="server process id, to sample its RSS")
    parser.add_argument("--heavy", type=int, default=4, help="concurrent heavy clients")
    parser.add_argument("--kind", choices=["bombs", "wide"], default="bombs")
    parser.add_argument("--light", type=int, default=200, help="light requests to time")
    parser.add_argument("--warmup", type=int, default=10, help="light requests before the heavy clients start")
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()

    if args.kind == "bombs":
        heavy_body = body([gray_bomb(4000, 4000)] * 4)
    else:
        heavy_body = body([gray_bomb(16_000_000, 1)])
    light_bodies = [body([photo(224, seed)]) for seed in range(8)]
    print("heavy request: %d bytes (%s); light request: %d bytes" % (len(heavy_body), args.kind, len(light_bodies[0])))

    light = Client(args.url, args.key, args.timeout)
    for i in range(args.warmup):
        status, data = light.post("/v1/classify", light_bodies[i % 8])
        if status != 200:
            sys.exit("warm-up request failed: %d %s" % (status, data[:200]))

    stop = threading.Event()
    heavy_statuses = {}
    heavy_lock = threading.Lock()
    peak = {"rss": rss_kib(args.pid, "VmRSS") if args.pid else None}
    baseline = peak["rss"]

    def heavy_client():
        client = Client(args.url, args.key, args.timeout)
        while not stop.is_set():
            status, _ = client.post("/v1/classify", heavy_body)
            with heavy_lock:
                heavy_statuses[status] = heavy_statuses.get(status, 0) + 1

    def sampler():
        while not stop.is_set():
            value = rss_kib(args.pid, "VmRSS")
            if value is not None and (peak["rss"] is None or value > peak["rss"]):
                peak["rss"] = value
            time.sleep(0.02)

    threads = [threading.Thread(target=heavy_client, daemon=True) for _ in range(args.heavy)]
    if args.pid:
        threads.append(threading.Thread(target=sampler, daemon=True))
    for t in threads:
        t.start()
    time.sleep(0.5)  # let the heavy clients get going

    latencies, light_statuses = [], {}
    for i in range(args.light):
        start = time.perf_counter()
        status, _ = light.post("/v1/classify", light_bodies[i % 8])
        latencies.append((time.perf_counter() - start) * 1000)
        light_statuses[status] = light_statuses.get(status, 0) + 1
    stop.set()
    for t in threads:
        t.join(timeout=args.timeout)

    print("light client: %d requests, statuses %s" % (len(latencies), light_statuses))
    print("  latency ms: p50 %.1f  p99 %.1f  max %.1f" % (percentile(latencies, 50), percentile(latencies, 99), max(latencies)))
    print("heavy clients (%d): statuses %s" % (args.heavy, heavy_statuses))
    if args.pid:
        hwm = rss_kib(args.pid, "VmHWM")
        print("server RSS: before %.0f MiB, peak sampled %.0f MiB, VmHWM %.0f MiB"
              % ((baseline or 0) / 1024, (peak["rss"] or 0) / 1024, (hwm or 0) / 1024))


if __name__ == "__main__":
    main()
