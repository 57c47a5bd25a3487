"""Idle-connection flood against a running `rada serve`: opens N TCP connections that never
send a byte, then times one normal GET /healthz on a new connection and reports the server's
open file descriptors (Linux /proc). Issue #11 item 7; numbers in Docs/api.md ("Connections").

    rada serve --backend synthetic --port 18431 --data-dir /tmp/flood & PID=$!
    python3 tools/idle_flood.py 18431 15000 $PID      # needs `ulimit -n` above N + 200
"""
import os
import resource
import socket
import sys
import time

port, n, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 200, n + 200))
sockets = []
start = time.time()
for _ in range(n):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    sockets.append(s)
time.sleep(float(os.environ.get("SETTLE", "0.5")))
print(f"opened {n} idle connections in {time.time() - start:.2f}s; server fds: {len(os.listdir(f'/proc/{pid}/fd'))}")
start = time.time()
client = socket.create_connection(("127.0.0.1", port), timeout=60)
client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    try:
        chunk = client.recv(65536)
    except socket.timeout:
        break
    if not chunk:
        break
    data += chunk
status = data.split(b"\r\n")[0].decode() if data else "no answer"
print(f"GET /healthz -> {status} after {time.time() - start:.2f}s")
print(f"server fds now: {len(os.listdir(f'/proc/{pid}/fd'))}")
