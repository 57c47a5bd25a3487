"""Connection flood against a running `rada serve`: opens N TCP connections that hold a slot,
then times normal requests on new connections and reports the server's open file descriptors
(Linux /proc) and how many flood connections the server closed. Issue #11 item 7; numbers in
Docs/api.md ("Connections") and Docs/security.md.

Modes:
  idle (default)  connections that never send a byte;
  --trickle       connections that send a classify request's head (Content-Length 1,000,000)
                  and 20 bytes of its body, then one byte every 10 s: each pause within the
                  body timeout, so only the slow-body rule at the connection cap frees a slot.

    rada serve --backend synthetic --port 18431 --data-dir /tmp/flood & PID=$!
    python3 tools/idle_flood.py 18431 15000 $PID      # needs `ulimit -n` above N + 200
    python3 tools/idle_flood.py 18431 600 $PID --trickle --requests 20
"""
import argparse
import os
import resource
import select
import socket
import time

parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("connections", type=int)
parser.add_argument("pid", type=int, help="the server's pid (for its descriptor count)")
parser.add_argument("--trickle", action="store_true", help="trickle request bodies instead of idling")
parser.add_argument("--requests", type=int, default=1, help="normal requests to time, one after another")
parser.add_argument("--settle", type=float, default=float(os.environ.get("SETTLE", "0.5")),
                    help="seconds between opening the flood and the first timed request")
args = parser.parse_args()

resource.setrlimit(resource.RLIMIT_NOFILE, (args.connections + 200, args.connections + 200))


def server_fds():
    return len(os.listdir(f"/proc/{args.pid}/fd"))


HEAD = (b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000\r\n\r\n" + b"{\"labels\":[\"a\",\"b\"],\"images\":[\"")
sockets = []
start = time.time()
for _ in range(args.connections):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", args.port))
    except BlockingIOError:
        pass
    sockets.append(s)
if args.trickle:
    select.select([], sockets[-1:], [], 5)  # connected by now, in order
    for s in sockets:
        try:
            s.send(HEAD)
        except OSError:
            pass
kind = "trickling" if args.trickle else "idle"
print(f"opened {args.connections} {kind} connections in {time.time() - start:.2f}s; server fds: {server_fds()}")


def closed_by_server():
    """Flood connections the server has closed (readable with no data, or reset)."""
    count = 0
    for s in sockets:
        try:
            if s.recv(65536, socket.MSG_PEEK) == b"":
                count += 1
        except BlockingIOError:
            pass
        except OSError:
            count += 1
    return count


def trickle_once():
    for s in sockets:
        try:
            s.send(b"A")
        except OSError:
            pass


time.sleep(args.settle)
latencies, statuses = [], {}
last_trickle = time.time()
for _ in range(args.requests):
    if args.trickle and time.time() - last_trickle > 10:
        trickle_once()
        last_trickle = time.time()
    t0 = time.time()
    client = socket.create_connection(("127.0.0.1", args.port), timeout=60)
    client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        try:
            chunk = client.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
    client.close()
    latencies.append(time.time() - t0)
    status = data.split(b"\r\n")[0].decode() if data else "no answer"
    statuses[status] = statuses.get(status, 0) + 1
latencies.sort()
print(f"GET /healthz x{args.requests}: {statuses}; seconds min {latencies[0]:.3f}, "
      f"median {latencies[len(latencies) // 2]:.3f}, max {latencies[-1]:.3f}")
print(f"flood connections closed by the server: {closed_by_server()} of {args.connections}; server fds now: {server_fds()}")
