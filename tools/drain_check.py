"""What a request answered before its body costs a running `rada serve` (loopback, Linux):
sends a classify head, then body bytes as fast as the socket takes them for a few seconds, and
reports the answer, when it came and when its stream ended, how much the server accepted before
it reset the connection, and the server's CPU time meanwhile (/proc). Two cases: no key (401; needs --api-keys) and a
key with a declared Content-Length of 10 GB (413). Numbers in Docs/security.md.

    rada serve --backend synthetic --port 18431 --api-keys KEYS --data-dir /tmp/d & PID=$!
    python3 tools/drain_check.py 18431 $PID KEY
"""
import os
import socket
import sys
import time

port, pid, key = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
SECONDS = 3.0


def cpu_seconds():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


cases = [("no key", b"", 1_000_000_000), ("key, 10 GB declared", f"Authorization: Bearer {key}\r\n".encode(), 10_000_000_000)]
for name, auth, length in cases:
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\n" + auth
              + f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n".encode())
    s.setblocking(False)
    chunk, sent, answer, answered, ended, reset = b"x" * 65536, 0, b"", None, None, None
    cpu0, t0 = cpu_seconds(), time.time()
    # Keeps sending after the answer and its end of stream, as a client that sends its whole
    # body before reading would, until the server resets the connection or time is up.
    while time.time() - t0 < SECONDS and reset is None:
        if ended is None:
            try:
                data = s.recv(65536)
                if data:
                    answer += data
                    answered = answered or time.time() - t0
                else:
                    ended = time.time() - t0
            except BlockingIOError:
                pass
            except OSError:
                reset = time.time() - t0
        try:
            sent += s.send(chunk)
        except BlockingIOError:
            time.sleep(0.001)
        except OSError:
            reset = reset or time.time() - t0
    cpu = cpu_seconds() - cpu0
    status = answer.split(b"\r\n")[0].decode() if answer else "no answer"
    answered_text = f"{answered:.3f} s" if answered is not None else "-"
    ended_text = f"its end after {ended:.3f} s" if ended is not None else "no end of stream"
    reset_text = f"reset after {reset:.3f} s" if reset is not None else f"still taking bytes after {SECONDS:.0f} s"
    print(f"{name}: {status} after {answered_text}, {ended_text}; the server took {sent / 1e6:.1f} MB, "
          f"{reset_text}; server CPU {cpu:.2f} s")
    s.close()
    time.sleep(0.5)
