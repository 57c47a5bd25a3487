#!/usr/bin/env python3
"""Bounded load test of a running `rada serve` on loopback (standard library only).

For each stream count N (default 1, 10, 100) it creates N streams, then runs N client threads,
one per stream, each sending single-image classify requests back to back (keep-alive) for a
fixed duration (each request prepared once and sent on a kept-alive socket, so the
generator's own Python stays out of the latencies; `--client http.client` for Python's client); it reports requests/s, p50/p99 latency, errors by status, and the server's
memory per stream (GET /v1/streams/{id} memoryBytes). The streams are deleted afterwards.

    rada serve --backend synthetic --data-dir /tmp/rada-load &        # or the real model
    python3 tools/load_test.py --url http://127.0.0.1:8080 --duration 10
    python3 tools/load_test.py --key KEY --streams 1,10,100 --image-size 224 --json out.json

With --rada BIN (and --model DIR for a model other than the embedded one) it first runs
`BIN bench-request` on the same image and class count, and prints each level's p50 as a ratio
of the in-process cost of an answer (decode + embed + journal + predict). With --heavy it runs
one heavy client beside the light ones for the whole level: `text` (stateless requests of
1000 labels x 64 templates, new templates each time), `images` (64-image requests on a stream
of its own) or `stream` (1-image requests on a stream of 1000 classes). With --server-pid (the server on
this machine) it also reports the server's CPU time per light request answered, all threads:
on a server pinned to one core that is what its latency is made of, and unlike wall-clock time
it does not include what a shared host takes from the virtual CPU.
"""
import argparse
import base64
import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib


def png(width, height, seed):
    """An RGB PNG whose pixels depend on seed."""
    rows = b"".join(
        b"\x00" + bytes(((x * 9 + seed * 37) & 255, (y * 7 + seed * 111) & 255, ((x + y) * 5 + seed * 407) & 255)[c]
                        for x in range(width) for c in range(3))
        for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class Client:
    def __init__(self, url, key):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def request(self, method, path, body=None, content_type="application/json"):
        headers = dict(self.headers)
        if body is not None:
            # Bodies may come pre-encoded, so the client's own JSON work stays out of the timing.
            body = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        except (http.client.HTTPException, OSError):
            self.connection.close()
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
            raise
        return response.status, data


class RawClient:
    """The light clients' HTTP/1.1 client: each request is built once, sent with one write and
    its answer read by Content-Length. `http.client` spends about 0.3 ms of Python per
    request on building headers and parsing the answer (measured against this server: p50
    2.82 ms with it, 2.40 ms with this one, same requests, alternating); that is the generator's
    time, not the server's, and on a closed loop it adds to every latency measured."""

    def __init__(self, url, key):
        parts = urllib.parse.urlsplit(url)
        self.address = (parts.hostname, parts.port or 80)
        self.authorization = f"Authorization: Bearer {key}\r\n" if key else ""
        self.socket, self.pending = None, b""

    def build(self, method, path, body, content_type):
        """The request's bytes, headers as http.client sends them."""
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.address[0]}:{self.address[1]}\r\nAccept-Encoding: identity\r\n"
                f"{self.authorization}Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n")
        return head.encode() + body

    def send(self, request):
        """Sends built request bytes on the kept-alive connection; returns the status code."""
        try:
            if self.socket is None:
                self.socket = socket.create_connection(self.address, timeout=60)
                self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.pending = b""
            self.socket.sendall(request)
            data = self.pending
            while (end := data.find(b"\r\n\r\n")) < 0:
                data += self.receive()
            head, data = data[:end], data[end + 4:]
            status, length, close = int(head[9:12]), None, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            if length is None:
                raise http.client.HTTPException("answer without Content-Length")
            while len(data) < length:
                data += self.receive()
            self.pending = data[length:]
            if close:
                self.close()
            return status
        except (http.client.HTTPException, OSError, ValueError):
            self.close()
            raise

    def receive(self):
        chunk = self.socket.recv(1 << 16)
        if not chunk:
            raise http.client.HTTPException("connection closed")
        return chunk

    def close(self):
        if self.socket is not None:
            self.socket.close()
        self.socket, self.pending = None, b""


MULTIPART_BOUNDARY = "rada-load-test-boundary"


def multipart(png_bytes):
    """A multipart/form-data body holding one PNG file, as the Python client sends it."""
    head = (f"--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"image.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode()
    return head + png_bytes + f"\r\n--{MULTIPART_BOUNDARY}--\r\n".encode()


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[index]


def heavy_client(args, images, stop, counts, trace):
    """One heavy client until `stop` is set; counts its requests by status and, in `trace`,
    appends (start, seconds, "heavy") per request."""
    client = Client(args.url, args.heavy_key or args.key)
    stream = f"heavy-{int(time.time() * 1000)}"
    if args.heavy in ("images", "stream"):
        labels = args.labels if args.heavy == "images" else [f"class {k}" for k in range(1000)]
        client.request("POST", "/v1/streams", {"id": stream, "labels": labels})
    # The 64-image bodies are encoded once, as the light clients' are: the generator shares the
    # server's cores, and 17 MB of json.dumps per request would be the generator's load, not the server's.
    bulk = [json.dumps({"images": [images[(n + i) % len(images)] for i in range(64)]}).encode() for n in range(4)] if args.heavy == "images" else []
    n = 0
    while not stop.is_set():
        if args.heavy == "text":
            body = {"labels": [f"class {k}" for k in range(1000)], "templates": [f"a photo {n}.{t} of a {{}}." for t in range(64)],
                    "images": [images[n % len(images)]]}
            path = "/v1/classify"
        elif args.heavy == "images":
            body, path = bulk[n % len(bulk)], f"/v1/streams/{stream}/classify"
        else:
            body, path = {"images": [images[n % len(images)]]}, f"/v1/streams/{stream}/classify"
        start = time.perf_counter()
        try:
            status, _ = client.request("POST", path, body)
        except (http.client.HTTPException, OSError):
            status = "connection error"
        trace.append((start, time.perf_counter() - start, "heavy"))
        counts[status] = counts.get(status, 0) + 1
        n += 1
    if args.heavy in ("images", "stream"):
        client.request("DELETE", f"/v1/streams/{stream}")


def in_process_cost(args, image_bytes):
    """`rada bench-request` on the same image and class count: the answer's floor, ms."""
    with tempfile.NamedTemporaryFile(suffix=".png") as f:
        f.write(image_bytes)
        f.flush()
        command = (["taskset", "-c", args.server_cpus] if args.server_cpus else []) + [args.rada, "bench-request", "--classes", str(len(args.labels)), "--requests", str(args.floor_requests), "--image", f.name, "--json"]
        if args.model:
            command += ["--model", args.model]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def run_level(args, streams, images):
    setup = Client(args.url, args.key)
    ids = [f"load-{streams}-{i}-{int(time.time())}" for i in range(streams)]
    for stream_id in ids:
        status, data = setup.request("POST", "/v1/streams", {"id": stream_id, "labels": args.labels})
        if status != 201:
            sys.exit(f"creating {stream_id}: {status} {data[:200]!r}")
    latencies, statuses, lock = [], {}, threading.Lock()
    trace = []  # (perf_counter at the start, seconds, stream or "heavy"): list.append is atomic

    if args.multipart:
        content_type = f"multipart/form-data; boundary={MULTIPART_BOUNDARY}"
        bodies = [multipart(png_bytes) for png_bytes in args.pngs]
    else:
        content_type = "application/json"
        bodies = [json.dumps({"images": [image]}).encode() for image in images]
    # Untimed requests first (round robin over the streams), so that a level measures the
    # server in steady state, not its first requests after start (threads started, memory mapped).
    for n in range(args.warmup_requests):
        setup.request("POST", f"/v1/streams/{ids[n % len(ids)]}/classify", bodies[n % len(bodies)], content_type)
    deadline = time.monotonic() + args.duration

    def worker(index, stream_id):
        mine, counts, n = [], {}, 0
        if args.client == "raw":
            client = RawClient(args.url, args.key)
            requests = [client.build("POST", f"/v1/streams/{stream_id}/classify", body, content_type) for body in bodies]
            call = lambda i: client.send(requests[i])
        else:
            client = Client(args.url, args.key)
            call = lambda i: client.request("POST", f"/v1/streams/{stream_id}/classify", bodies[i], content_type)[0]
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                status = call((index + n) % len(bodies))
            except (http.client.HTTPException, OSError):
                status = "connection error"
            elapsed = time.perf_counter() - start
            counts[status] = counts.get(status, 0) + 1
            if status == 200:
                mine.append(elapsed)
            trace.append((start, elapsed, stream_id if status == 200 else f"{stream_id} {status}"))
            n += 1
        with lock:
            latencies.extend(mine)
            for key, value in counts.items():
                statuses[key] = statuses.get(key, 0) + value

    threads = [threading.Thread(target=worker, args=(i, s)) for i, s in enumerate(ids)]
    stop, heavy_counts = threading.Event(), {}
    heavy = threading.Thread(target=heavy_client, args=(args, images, stop, heavy_counts, trace)) if args.heavy != "none" else None
    if heavy:
        heavy.start()
        time.sleep(1)
    cpu_before = server_cpu_seconds(args.server_pid)
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    cpu_after = server_cpu_seconds(args.server_pid)
    stop.set()
    if heavy:
        heavy.join()
    memory = []
    for stream_id in ids:
        status, data = setup.request("GET", f"/v1/streams/{stream_id}")
        if status == 200:
            memory.append(json.loads(data)["memoryBytes"])
        setup.request("DELETE", f"/v1/streams/{stream_id}")
    latencies.sort()
    if args.trace:
        origin = min((t for t, _, _ in trace), default=0)
        with open(f"{args.trace}.{streams}.{args.heavy}.tsv", "w") as f:
            f.write("start_ms\tms\twho\n")
            for t, seconds, who in sorted(trace):
                f.write(f"{1000 * (t - origin):.1f}\t{1000 * seconds:.2f}\t{who}\n")
    return {
        "streams": streams,
        "requests": len(latencies),
        "requests_per_second": len(latencies) / wall,
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "statuses": {str(k): v for k, v in statuses.items()},
        "memory_bytes_per_stream": sum(memory) / len(memory) if memory else None,
        "heavy": args.heavy,
        "heavy_statuses": {str(k): v for k, v in heavy_counts.items()},
        # Every thread of the server while the light clients ran (the heavy client's work too),
        # per light request answered.
        "server_cpu_ms_per_request": 1000 * (cpu_after - cpu_before) / len(latencies)
        if cpu_before is not None and cpu_after is not None and latencies else None,
    }


def server_cpu_seconds(pid):
    """User + system CPU time of process `pid` (all its threads), from /proc; None without a pid.
    Time a shared host takes from the virtual CPU (steal) is not in it, so it drifts less than
    wall-clock latency does."""
    if not pid:
        return None
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--key", default=None, help="API key (Bearer), when the server has keys")
    parser.add_argument("--streams", default="1,10,100", help="comma-separated stream counts")
    parser.add_argument("--duration", type=float, default=10, help="seconds per level")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--labels", default="cat,dog,bird,fish,horse,car,tree,house,boat,plane")
    parser.add_argument("--classes", type=int, default=None, help="stream class count (labels 'class 0'...); overrides --labels")
    parser.add_argument("--heavy", choices=["none", "text", "images", "stream"], default="none")
    parser.add_argument("--heavy-key", default=None, help="API key of the heavy client (default: --key)")
    parser.add_argument("--rada", default=None, help="rada binary, for the in-process cost (bench-request)")
    parser.add_argument("--model", default=None, help="model directory for bench-request (default: the embedded model)")
    parser.add_argument("--warmup-requests", type=int, default=50,
                        help="untimed classify requests before each level, round robin over its streams")
    parser.add_argument("--floor-requests", type=int, default=300,
                        help="requests of each in-process measurement (medians; the journal's fsync varies most)")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--trace", default=None,
                        help="write every request's start and latency (light and heavy) to TRACE.STREAMS.HEAVY.tsv")
    parser.add_argument("--server-cpus", default=None,
                        help="CPU list the server was pinned to (taskset); the in-process cost is measured on the same CPUs")
    parser.add_argument("--server-pid", type=int, default=None,
                        help="the server's process id (same machine): adds its CPU time per request to each level")
    parser.add_argument("--client", choices=["raw", "http.client"], default="raw",
                        help="the light clients' HTTP client: prepared requests on a socket (default), or Python's http.client")
    parser.add_argument("--multipart", action="store_true",
                        help="send the light clients' images as multipart/form-data (the file bytes) instead of JSON base64")
    args = parser.parse_args()
    args.labels = [f"class {k}" for k in range(args.classes)] if args.classes else args.labels.split(",")
    pngs = [png(args.image_size, args.image_size, seed) for seed in range(16)]
    images = [base64.b64encode(p).decode() for p in pngs]
    args.pngs = pngs
    # The machine's speed drifts (shared hosts): each level's floor is the mean of the in-process
    # answer measured right before and right after it, so the ratio compares like with like.
    def measure():
        cost = in_process_cost(args, pngs[0])
        print(f"in-process (K = {cost['classes']}, D = {cost['dimension']}): decode {cost['decodeMs']:.2f}, embed {cost['embedMs']:.2f}, "
              f"journal {cost['journalMs']:.2f}, predict {cost['predictMs']:.2f}, answer {cost['answerMs']:.2f} "
              f"(stage medians {cost.get('stageMediansMs', float('nan')):.2f}), step {cost['stepMs']:.2f} ms")
        return cost
    costs = [measure()] if args.rada else []
    print(f"light clients' bodies: {'multipart/form-data' if args.multipart else 'JSON base64'}, client: {args.client}")
    results = []
    for n in args.streams.split(","):
        results.append(run_level(args, int(n), images))
        if args.rada:
            costs.append(measure())
            results[-1]["in_process_answer_ms"] = (costs[-2]["answerMs"] + costs[-1]["answerMs"]) / 2
    print(f"| streams | heavy | requests | req/s | p50 ms | p99 ms | in-process answer ms | p50 / in-process | server CPU ms/request | statuses | heavy statuses | memory/stream |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|")
    for r in results:
        memory = f"{r['memory_bytes_per_stream'] / 2**20:.2f} MiB" if r["memory_bytes_per_stream"] else "-"
        floor = r.get("in_process_answer_ms")
        ratio = f"{r['p50_ms'] / floor:.2f}" if floor else "-"
        cpu = r.get("server_cpu_ms_per_request")
        print(f"| {r['streams']} | {r['heavy']} | {r['requests']} | {r['requests_per_second']:.1f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
              f"| {floor or 0:.2f} | {ratio} | {f'{cpu:.2f}' if cpu is not None else '-'} | {r['statuses']} | {r['heavy_statuses']} | {memory} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"in_process": costs, "levels": results}, f, indent=2)


if __name__ == "__main__":
    main()
