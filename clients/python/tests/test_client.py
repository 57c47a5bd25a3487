"""The client against a live `rada serve` (see conftest.py): every answer is checked against the
server's own JSON or against a second path to the same numbers."""

from __future__ import annotations

import io
import re
import select
import socket
import threading
import time
from pathlib import Path
from typing import List, Tuple
from urllib.parse import urlparse

import numpy as np
import pytest
import requests
from PIL import Image

from rada_client import Client, RadaError, encode_png
from rada_client.client import _retry_after

LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
_ids = iter(range(10_000))


def fresh_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def images(count: int, seed: int, shape: Tuple[int, ...] = (28, 28)) -> List[np.ndarray]:
    """Deterministic uint8 images: a bright blob on a dark ground, placed by the seed."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        base = rng.integers(0, 40, size=shape, dtype=np.uint8)
        y, x = rng.integers(4, shape[0] - 12), rng.integers(4, shape[1] - 12)
        base[y : y + rng.integers(6, 12), x : x + rng.integers(6, 12)] = rng.integers(150, 255)
        out.append(base)
    return out


@pytest.fixture
def client(server) -> Client:
    with Client(server.url, api_key=server.key) as c:
        yield c


def raw_classify(server, stream_id: str, files: List[bytes], top: int) -> dict:
    response = requests.post(
        f"{server.url}/v1/streams/{stream_id}/classify?top={top}",
        headers={"Authorization": f"Bearer {server.key}"},
        files=[("image", (f"{i}.png", data, "image/png")) for i, data in enumerate(files)],
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_png_encoder_round_trips_through_pillow() -> None:
    for shape in [(5, 7), (5, 7, 1), (6, 3, 3), (2, 9, 4)]:
        array = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
        decoded = np.asarray(Image.open(io.BytesIO(encode_png(array))))
        assert np.array_equal(decoded.reshape(array.shape), array)
    with pytest.raises(TypeError):
        encode_png(np.zeros((4, 4), dtype=np.float32))
    with pytest.raises(ValueError):
        encode_png(np.zeros((4, 4, 2), dtype=np.uint8))


def test_stream_lifecycle_and_errors(client: Client) -> None:
    stream_id = fresh_id("life")
    created = client.create_stream(LABELS, id=stream_id, seed=7)
    assert created.id == stream_id and created.labels == LABELS
    assert (created.requests, created.samples_seen, created.optimizer_steps) == (0, 0, 0)
    assert created.running_entropy is None
    listed = {s.id: s for s in client.list_streams()}
    assert listed[stream_id].labels == len(LABELS)
    assert client.get_stream(stream_id).raw == created.raw

    with pytest.raises(RadaError) as conflict:
        client.create_stream(LABELS, id=stream_id)
    assert (conflict.value.status, conflict.value.code) == (409, "conflict")
    assert conflict.value.retry_after is None and not conflict.value.retryable

    with pytest.raises(RadaError) as unprocessable:
        client.classify(stream_id, [encode_png(images(1, 0)[0]), b"not an image"])
    assert (unprocessable.value.status, unprocessable.value.code) == (422, "unprocessable")
    assert "1" in unprocessable.value.message  # the server names the bad image's index
    assert client.get_stream(stream_id).requests == 0  # the whole batch was refused

    with pytest.raises(ValueError):
        client.classify(stream_id, images(65, 1))

    client.delete_stream(stream_id)
    with pytest.raises(RadaError) as missing:
        client.get_stream(stream_id)
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    assert stream_id not in {s.id for s in client.list_streams()}


def test_unknown_key_is_unauthorized(server) -> None:
    with Client(server.url, api_key="wrong") as stranger:
        with pytest.raises(RadaError) as error:
            stranger.list_streams()
    assert (error.value.status, error.value.code) == (401, "unauthorized")


def test_classify_answer_is_the_servers_json(server, client: Client) -> None:
    """Twin streams (same labels and seed) get the same batches: one through the client, one as
    hand-made multipart; the parsed answer must be exactly the server's JSON."""
    ours, theirs = fresh_id("twin"), fresh_id("twin")
    for stream_id in (ours, theirs):
        client.create_stream(LABELS, id=stream_id, seed=3)
    for step, seed in enumerate([10, 11, 12], start=1):
        batch = images(6, seed)
        answer = client.classify(ours, batch, top=3)
        expected = raw_classify(server, theirs, [encode_png(a) for a in batch], top=3)
        assert answer.raw == expected
        assert answer.request == expected["request"] == step
        assert len(answer.results) == 6
        for result, want in zip(answer.results, expected["results"]):
            assert [(p.label, p.probability) for p in result.top] == [(p["label"], p["probability"]) for p in want["top"]]
            assert result.entropy == want["entropy"]
            assert len(result.top) == 3
            assert result.top[0].probability >= result.top[1].probability >= result.top[2].probability
    a, b = client.get_stream(ours), client.get_stream(theirs)
    assert (a.requests, a.samples_seen) == (3, 18)
    assert (a.requests, a.samples_seen, a.optimizer_steps, a.running_entropy) == (
        b.requests, b.samples_seen, b.optimizer_steps, b.running_entropy)


def test_every_input_form_gives_the_same_answer(client: Client, tmp_path: Path) -> None:
    """Paths, bytes, PIL images and numpy arrays of the same pixels are the same request: fresh
    twin streams answer them identically, and so does stateless zero-shot."""
    batch = images(4, 20, shape=(32, 32, 3))
    paths = []
    for i, array in enumerate(batch):
        path = tmp_path / f"{i}.png"
        Image.fromarray(array).save(path)
        paths.append(path)
    forms = {
        "paths": [str(p) for p in paths],
        "pathlib": paths,
        "bytes": [p.read_bytes() for p in paths],
        "pil": [Image.open(p) for p in paths],
        "numpy-list": batch,
        "numpy-4d": np.stack(batch),
    }
    answers = {}
    for form, value in forms.items():
        stream_id = fresh_id("form")
        client.create_stream(LABELS, id=stream_id)
        answers[form] = client.classify(stream_id, value, top=10)
    reference = answers["numpy-list"]
    assert len(reference.results) == 4
    for form, answer in answers.items():
        assert answer.results == reference.results, form
    stateless = client.classify_stateless(batch, labels=LABELS, top=10)
    assert stateless.request is None
    for got, want in zip(stateless.results, reference.results):
        assert got.label == want.label
        for p, q in zip(got.top, want.top):
            assert p.label == q.label and abs(p.probability - q.probability) < 1e-6
    single = client.classify_stateless(batch[0], labels=LABELS, top=1)
    assert single.results[0].label == reference.results[0].label


def test_classify_batches_are_consecutive_steps(client: Client) -> None:
    stream_id = fresh_id("batches")
    client.create_stream(LABELS, id=stream_id)
    answers = client.classify_batches(stream_id, images(10, 30), batch_size=4, top=1)
    assert [a.request for a in answers] == [1, 2, 3]
    assert [len(a.results) for a in answers] == [4, 4, 2]
    stream = client.get_stream(stream_id)
    assert (stream.requests, stream.samples_seen) == (3, 10)
    assert stream.running_entropy is not None and stream.running_entropy > 0


def test_checkpoint_round_trip_restores_identical_predictions(client: Client, tmp_path: Path) -> None:
    stream_id = fresh_id("ckpt")
    client.create_stream(LABELS, id=stream_id, hyperparameters={"stepsPerBatch": 2, "optimizer": {"learningRate": 0.01}})
    probe = images(8, 99)
    zero_shot = client.classify(stream_id, probe, adapt=False, top=10)
    client.classify_batches(stream_id, images(32, 40), batch_size=8)
    adapted_stream = client.get_stream(stream_id)
    assert adapted_stream.optimizer_steps > 0

    saved = client.save_checkpoint(stream_id, "adapted")
    assert saved.name == "adapted" and saved.bytes > 0
    assert [c.name for c in client.list_checkpoints(stream_id)] == ["adapted"]
    file = tmp_path / "adapted.safetensors"
    assert client.download_checkpoint(stream_id, "adapted", file) == saved.bytes == file.stat().st_size
    assert not (tmp_path / "adapted.safetensors.part").exists()

    adapted = client.classify(stream_id, probe, adapt=False, top=10)
    assert adapted.results != zero_shot.results  # the adaptation changed the answers

    reset = client.reset(stream_id)
    assert (reset.requests, reset.optimizer_steps) == (0, 0)
    assert client.classify(stream_id, probe, adapt=False, top=10).results == zero_shot.results

    uploaded = client.upload_checkpoint(stream_id, "uploaded", file)
    assert uploaded.bytes == saved.bytes
    restored = client.restore_checkpoint(stream_id, "uploaded")
    assert restored.optimizer_steps == adapted_stream.optimizer_steps
    assert client.classify(stream_id, probe, adapt=False, top=10).results == adapted.results

    with pytest.raises(RadaError) as taken:
        client.upload_checkpoint(stream_id, "uploaded", file.read_bytes())
    assert (taken.value.status, taken.value.code) == (409, "conflict")
    client.delete_checkpoint(stream_id, "adapted")
    assert [c.name for c in client.list_checkpoints(stream_id)] == ["uploaded"]
    with pytest.raises(RadaError) as gone:
        client.download_checkpoint(stream_id, "adapted", tmp_path / "gone.safetensors")
    assert gone.value.code == "not_found" and not (tmp_path / "gone.safetensors").exists()


class SlotHolder:
    """Holds one of the client's request slots: a checkpoint upload whose body arrives slowly.

    The server admits a request (and counts it in flight) when its head arrives; the body is
    read inside, so the slot stays taken until the socket closes."""

    def __init__(self, server, stream_id: str) -> None:
        url = urlparse(server.url)
        self.socket = socket.create_connection((url.hostname, url.port))
        head = (
            f"PUT /v1/streams/{stream_id}/checkpoints/held HTTP/1.1\r\nHost: {url.hostname}\r\n"
            f"Authorization: Bearer {server.key}\r\nContent-Type: application/octet-stream\r\n"
            "Content-Length: 4096\r\n\r\n"
        )
        self.socket.sendall(head.encode() + b"\0" * 16)
        self.timer: threading.Timer | None = None

    def answered(self) -> bool:
        """Whether the server has answered (refused) the held upload already."""
        return bool(select.select([self.socket], [], [], 0)[0])

    def release_after(self, seconds: float) -> None:
        """Closes the connection (the server then frees the slot) `seconds` from now."""
        self.timer = threading.Timer(seconds, self.socket.close)
        self.timer.start()

    def release(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.socket.close()


def hold_slot(server, client: Client, stream_id: str) -> SlotHolder:
    """A holder that the server counts in flight, seen from `client` as a 429.

    The holder itself is refused when another request of the client (the probe's, or one whose
    slot is not yet released) is in flight as its head arrives: then it is replaced."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        holder = SlotHolder(server, stream_id)
        for _ in range(50):
            if holder.answered():
                break
            try:
                client.get_stream(stream_id)
            except RadaError as error:
                if error.status != 429:
                    raise
                if not holder.answered():
                    return holder
            time.sleep(0.02)
        holder.release()
    raise AssertionError("no held upload took the client's slot within 10 s")


def test_429_is_retried_after_retry_after(limited_server) -> None:
    retries: List[Tuple[int, str, float, int]] = []
    with Client(limited_server.url, api_key=limited_server.key, max_retries=0) as probe:
        stream_id = fresh_id("limited")
        probe.create_stream(["a", "b"], id=stream_id)
        holder = hold_slot(limited_server, probe, stream_id)
        try:
            holder.release_after(1.5)
            with Client(limited_server.url, api_key=limited_server.key, max_retries=5,
                        on_retry=lambda e, d, n: retries.append((e.status, e.code, d, n))) as patient:
                start = time.monotonic()
                stream = patient.get_stream(stream_id)
                elapsed = time.monotonic() - start
        finally:
            holder.release()
    assert stream.id == stream_id
    assert 1 <= len(retries) <= 3
    assert all(status == 429 and code == "queue_full" and delay == 1.0 for status, code, delay, _ in retries)
    assert [n for *_, n in retries] == list(range(1, len(retries) + 1))
    assert elapsed >= 1.0 * len(retries)


def test_retries_are_bounded(limited_server) -> None:
    retries: List[int] = []
    with Client(limited_server.url, api_key=limited_server.key, max_retries=2,
                on_retry=lambda e, d, n: retries.append(n)) as client:
        stream_id = fresh_id("bounded")
        client.create_stream(["a", "b"], id=stream_id)
        with Client(limited_server.url, api_key=limited_server.key, max_retries=0) as probe:
            holder = hold_slot(limited_server, probe, stream_id)
        try:
            start = time.monotonic()
            with pytest.raises(RadaError) as refused:
                client.get_stream(stream_id)
            elapsed = time.monotonic() - start
        finally:
            holder.release()
    assert (refused.value.status, refused.value.code, refused.value.retry_after) == (429, "queue_full", 1.0)
    assert refused.value.retryable
    assert retries == [1, 2]
    assert 2.0 <= elapsed < 10.0


def test_retry_after_forms() -> None:
    # What is retried: answers the server marks transient (429/503 with Retry-After), nothing else.
    assert RadaError(503, "unavailable", "decode budget busy", 1.0).retryable
    assert RadaError(503, "stream_moved", "another server holds it", 1.0).retryable
    assert not RadaError(503, "stream_quarantined", "cannot be loaded", None).retryable
    assert not RadaError(409, "conflict", "exists", None).retryable
    assert _retry_after("3") == 3.0
    assert _retry_after(None) is None
    assert _retry_after("soon") is None
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: at once
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25.0 <= _retry_after(future) <= 31.0


def test_readme_session_runs(server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's Python session, run as written (its URL and key swapped for this server's)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    session = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    # The project's README shows the same session.
    assert "```python\n" + session + "```" in (Path(__file__).resolve().parents[3] / "README.md").read_text()
    assert len(session.strip().splitlines()) <= 10
    session = session.replace("http://127.0.0.1:8080", server.url).replace('"MY-KEY"', repr(server.key))
    monkeypatch.chdir(tmp_path)
    for name, array in zip(["boot.png", "shirt.png"], images(2, 50)):
        Image.fromarray(array).save(name)
    namespace: dict = {}
    exec(compile(session, "README.md", "exec"), namespace)
    with Client(server.url, api_key=server.key) as client:
        stream = client.get_stream("shop-1")
        assert stream.requests == 1 and stream.checkpoints == ["after-1"]
        assert (tmp_path / "after-1.safetensors").stat().st_size == client.list_checkpoints("shop-1")[0].bytes


def test_the_package_type_checks_strictly(tmp_path: Path) -> None:
    """The installed package's own hints (py.typed) pass `mypy --strict`."""
    import subprocess
    import sys

    import rada_client

    package = Path(rada_client.__file__).parent
    assert (package / "py.typed").is_file()
    # By package name from an empty directory: the installed copy, not the source tree.
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), "-p", "rada_client"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_history_follows_the_requests_and_marks(client: Client) -> None:
    stream_id = fresh_id("hist")
    client.create_stream(LABELS, id=stream_id)
    answers = [client.classify(stream_id, images(4, 70 + i), top=len(LABELS)) for i in range(3)]
    client.save_checkpoint(stream_id, "h1")
    page = client.history(stream_id)
    assert page.id == stream_id and page.labels == LABELS
    assert 0 < page.used_bytes <= page.budget_bytes and not page.more
    requests_seen = [e for e in page.entries if e.kind == "request"]
    assert [e.images for e in requests_seen] == [4, 4, 4]
    for entry, answer in zip(requests_seen, answers):
        # The point's numbers are the answer's: mean entropy and mean top-1 probability,
        # and the predicted classes counted by label index.
        entropies = [r.entropy for r in answer.results]
        tops = [r.top[0].probability for r in answer.results]
        assert entry.mean_entropy == pytest.approx(sum(entropies) / 4, abs=1e-5)
        assert entry.mean_confidence == pytest.approx(sum(tops) / 4, abs=1e-5)
        counts: dict = {}
        for r in answer.results:
            counts[LABELS.index(r.label)] = counts.get(LABELS.index(r.label), 0) + 1
        assert dict(entry.classes or []) == counts
    assert page.entries[-1].kind == "checkpoint" and page.entries[-1].checkpoint == "h1"
    assert page.latest == page.entries[-1].seq
    # Paging: one entry at a time gives the same entries; since skips what was seen.
    first = client.history(stream_id, limit=1)
    assert first.more and first.entries == page.entries[:1]
    assert client.history_entries(stream_id) == page.entries
    assert client.history(stream_id, since=page.latest).entries == []
    client.reset(stream_id)
    after = client.history(stream_id)
    assert [e.kind for e in after.entries] == ["reset"] and after.entries[0].seq > page.latest
