#!/usr/bin/env python3
"""Server CPU per request for one bearer key, sent N times over one kept-alive connection
(standard library only): what a flood of requests with a wrong key, or a client's own, costs a
running `rada serve` (its PID's user + system time, from /proc). Make a keys file of many
clients to see whether the cost grows with their number:

    python3 -c "import random; [print(f'c{i%1000} key-{i}-{random.getrandbits(64):x}') for i in range(100000)]" > keys
    echo 'light light-key-0123456789' >> keys
    rada serve --port 18120 --api-keys keys &
    python3 tools/key_flood.py 18120 $! wrong-key-0123456789 2000
    python3 tools/key_flood.py 18120 $! light-key-0123456789 2000
"""
import http.client
import sys
import time


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, clock ticks of 1/100 s


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: key_flood.py PORT PID KEY REQUESTS")
    port, pid, key, count = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    connection = http.client.HTTPConnection("127.0.0.1", port)
    statuses = {}
    cpu_before, began = cpu_seconds(pid), time.time()
    for _ in range(count):
        connection.request("GET", "/v1/streams", headers={"Authorization": "Bearer " + key})
        response = connection.getresponse()
        response.read()
        statuses[response.status] = statuses.get(response.status, 0) + 1
        if response.getheader("Connection", "").lower() == "close":
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port)
    elapsed, cpu = time.time() - began, cpu_seconds(pid) - cpu_before
    print(f"statuses {statuses}: {count / elapsed:.0f} requests/s, server CPU {cpu * 1e6 / count:.0f} µs a request")


if __name__ == "__main__":
    main()
