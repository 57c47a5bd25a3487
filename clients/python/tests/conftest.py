"""Starts real `rada serve` processes (the Makefile's debug or release binary) for the tests.

RADA_BINARY names the binary; otherwise the checkout's .build/debug/rada, then
.build/release/rada. Each server gets a free loopback port, a temporary data directory and one
API key, and is stopped (SIGTERM, then SIGKILL) when the session ends.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List

import pytest
import requests

REPO = Path(__file__).resolve().parents[3]


def rada_binary() -> Path:
    named = os.environ.get("RADA_BINARY")
    candidates = [Path(named)] if named else [REPO / ".build/debug/rada", REPO / ".build/release/rada"]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(f"no rada binary at {', '.join(map(str, candidates))}: build it first (swift build)")


@dataclass
class Server:
    url: str
    key: str
    process: subprocess.Popen[bytes]
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(workdir: Path, extra: List[str]) -> Server:
    key = "test-" + secrets.token_hex(8)
    (workdir / "keys").write_text(f"pytest {key}\n")
    port = free_port()
    log = workdir / "server.log"
    process = subprocess.Popen(
        [str(rada_binary()), "serve", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(workdir / "data"), "--api-keys", str(workdir / "keys"), *extra],
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"rada serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if requests.get(url + "/readyz", timeout=2).status_code == 200:
                return Server(url, key, process, log)
        except requests.ConnectionError:
            pass
        time.sleep(0.25)
    process.kill()
    raise RuntimeError(f"rada serve did not become ready in 180 s:\n{log.read_text()}")


def stop_server(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """The embedded CLIP model, default limits."""
    with tempfile.TemporaryDirectory(prefix="rada-client-test-") as work:
        running = start_server(Path(work), [])
        try:
            yield running
        finally:
            stop_server(running)


@pytest.fixture(scope="session")
def limited_server() -> Iterator[Server]:
    """One request in flight per client (--max-client-requests 1), so a second one gets 429.

    The synthetic backend (no model) keeps start-up short; the limit is the same code either way.
    """
    with tempfile.TemporaryDirectory(prefix="rada-client-test-") as work:
        running = start_server(Path(work), ["--backend", "synthetic", "--max-client-requests", "1"])
        try:
            yield running
        finally:
            stop_server(running)
