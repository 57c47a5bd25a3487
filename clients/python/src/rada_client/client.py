"""A synchronous client for the RAdaServe HTTP API (Docs/api.md, Docs/openapi.yaml)."""

from __future__ import annotations

import base64
import email.utils
import os
import time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union
from urllib.parse import quote

import requests

from .errors import RadaError
from .images import ImageInput, to_file
from .models import Checkpoint, Classification, History, HistoryEntry, Stream, StreamSummary

#: The server's per-request image limit (`--max-images`, default 64).
MAX_IMAGES_PER_REQUEST = 64

#: Called before each retry with the error that caused it, the delay about to be slept (seconds)
#: and the retry's number (1 for the first).
RetryHook = Callable[[RadaError, float, int], None]

Images = Union[ImageInput, Sequence[ImageInput]]


class Client:
    """One server, one API key, one pooled HTTP session.

    Transient refusals (429, and 503 with ``Retry-After``: the server says nothing was done) are
    retried after the server's ``Retry-After``, at most `max_retries` times and never sleeping
    more than `max_retry_delay` seconds at once; any other error raises `RadaError` at once.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        api_key: Optional[str] = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 5,
        max_retry_delay: float = 30.0,
        on_retry: Optional[RetryHook] = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be at least 0")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_delay = max_retry_delay
        self.on_retry = on_retry
        self._session = requests.Session()
        if api_key is not None:
            self._session.headers["Authorization"] = f"Bearer {api_key}"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Server

    def ready(self) -> bool:
        """True once the model is warmed up (`/readyz` 200)."""
        response = self._session.get(self.base_url + "/readyz", timeout=self.timeout)
        return response.status_code == 200

    # Streams

    def create_stream(
        self,
        labels: Optional[Sequence[str]] = None,
        *,
        id: Optional[str] = None,
        prompts: Optional[Mapping[str, Sequence[str]]] = None,
        templates: Optional[Sequence[str]] = None,
        hyperparameters: Optional[Mapping[str, Any]] = None,
        seed: Optional[int] = None,
        policy: Optional[Mapping[str, Any]] = None,
    ) -> Stream:
        """A new stream with its own class set (labels and/or prompts) and adaptation settings
        (`hyperparameters`: any fields, the rest keep their defaults). `policy` is the deprecated
        name of `hyperparameters`."""
        if policy is not None:
            if hyperparameters is not None:
                raise TypeError("give hyperparameters or its deprecated alias policy, not both")
            hyperparameters = policy
        body = _class_set(labels, prompts, templates)
        # The server refuses explicit nulls, so absent fields are left out.
        for key, value in (("id", id), ("hyperparameters", hyperparameters), ("seed", seed)):
            if value is not None:
                body[key] = dict(value) if isinstance(value, Mapping) else value
        return Stream.from_json(self._request("POST", "/v1/streams", json=body).json())

    def list_streams(self) -> List[StreamSummary]:
        body = self._request("GET", "/v1/streams").json()
        return [StreamSummary(s["id"], s["labels"], s["createdAt"]) for s in body["streams"]]

    def get_stream(self, stream_id: str) -> Stream:
        return Stream.from_json(self._request("GET", _stream(stream_id)).json())

    def delete_stream(self, stream_id: str) -> None:
        self._request("DELETE", _stream(stream_id))

    def reset(self, stream_id: str) -> Stream:
        """Back to the stream's zero-shot state, counters cleared."""
        return Stream.from_json(self._request("POST", _stream(stream_id) + "/reset").json())

    def history(self, stream_id: str, since: int = 0, limit: Optional[int] = None) -> History:
        """One page of the stream's history: entries with seq above `since`, oldest first
        (at most `limit`, the server's default page when None)."""
        params: Dict[str, int] = {"since": since}
        if limit is not None:
            params["limit"] = limit
        return History.from_json(self._request("GET", _stream(stream_id) + "/history", params=params).json())

    def history_entries(self, stream_id: str, since: int = 0) -> List[HistoryEntry]:
        """Every entry the stream still holds after `since`, following the pages."""
        entries: List[HistoryEntry] = []
        while True:
            page = self.history(stream_id, since=since)
            entries += page.entries
            if not page.more or not page.entries:
                return entries
            since = page.entries[-1].seq

    # Classification

    def classify(
        self, stream_id: str, images: Images, *, top: Optional[int] = None, adapt: Optional[bool] = None
    ) -> Classification:
        """One request (one step of the stream) with 1 to 64 images, sent as multipart files.

        `images` is one image or a sequence of them: paths, PNG/JPEG bytes, PIL images, numpy
        uint8 arrays (a 4-D array is a batch). ``adapt=False`` predicts without an optimiser step.
        """
        batch = _image_list(images)
        if not 1 <= len(batch) <= MAX_IMAGES_PER_REQUEST:
            raise ValueError(
                f"one request takes 1 to {MAX_IMAGES_PER_REQUEST} images (got {len(batch)}); use classify_batches"
            )
        files = [("image", to_file(image, i)) for i, image in enumerate(batch)]
        params: Dict[str, str] = {}
        if top is not None:
            params["top"] = str(top)
        if adapt is not None:
            params["adapt"] = "true" if adapt else "false"
        response = self._request("POST", _stream(stream_id) + "/classify", params=params, files=files)
        return Classification.from_json(response.json())

    def classify_batches(
        self,
        stream_id: str,
        images: Iterable[ImageInput],
        *,
        batch_size: int = MAX_IMAGES_PER_REQUEST,
        top: Optional[int] = None,
        adapt: Optional[bool] = None,
    ) -> List[Classification]:
        """Many images as consecutive requests of `batch_size` (each one step of the stream)."""
        if not 1 <= batch_size <= MAX_IMAGES_PER_REQUEST:
            raise ValueError(f"batch_size must be 1...{MAX_IMAGES_PER_REQUEST}")
        answers: List[Classification] = []
        batch: List[ImageInput] = []
        for image in images:
            batch.append(image)
            if len(batch) == batch_size:
                answers.append(self.classify(stream_id, batch, top=top, adapt=adapt))
                batch = []
        if batch:
            answers.append(self.classify(stream_id, batch, top=top, adapt=adapt))
        return answers

    def classify_stateless(
        self,
        images: Images,
        *,
        labels: Optional[Sequence[str]] = None,
        prompts: Optional[Mapping[str, Sequence[str]]] = None,
        templates: Optional[Sequence[str]] = None,
        top: Optional[int] = None,
    ) -> Classification:
        """Zero-shot over a class set given here; no stream, nothing kept (JSON, base64 images)."""
        body = _class_set(labels, prompts, templates)
        body["images"] = [base64.b64encode(to_file(image, i)[1]).decode("ascii") for i, image in enumerate(_image_list(images))]
        params = {"top": str(top)} if top is not None else None
        return Classification.from_json(self._request("POST", "/v1/classify", params=params, json=body).json())

    # Checkpoints

    def save_checkpoint(self, stream_id: str, name: str) -> Checkpoint:
        response = self._request("POST", _stream(stream_id) + "/checkpoints", json={"name": name})
        return Checkpoint.from_json(response.json())

    def list_checkpoints(self, stream_id: str) -> List[Checkpoint]:
        body = self._request("GET", _stream(stream_id) + "/checkpoints").json()
        return [Checkpoint.from_json(c) for c in body["checkpoints"]]

    def download_checkpoint(self, stream_id: str, name: str, path: Union[str, "os.PathLike[str]"]) -> int:
        """Writes the checkpoint file (safetensors) to `path`; returns its size in bytes.

        The file appears complete or not at all: it is written beside `path` and renamed.
        """
        target = os.fspath(path)
        partial = target + ".part"
        response = self._request("GET", _checkpoint(stream_id, name), stream=True)
        written = 0
        try:
            with open(partial, "wb") as handle:
                for chunk in response.iter_content(chunk_size=1 << 16):
                    handle.write(chunk)
                    written += len(chunk)
            os.replace(partial, target)
        except BaseException:
            if os.path.exists(partial):
                os.remove(partial)
            raise
        finally:
            response.close()
        return written

    def upload_checkpoint(
        self, stream_id: str, name: str, source: Union[str, "os.PathLike[str]", bytes]
    ) -> Checkpoint:
        """Stores a checkpoint file (from this or another server) under `name` on the stream."""
        if isinstance(source, bytes):
            data = source
        else:
            with open(source, "rb") as handle:
                data = handle.read()
        response = self._request(
            "PUT", _checkpoint(stream_id, name), data=data, headers={"Content-Type": "application/octet-stream"}
        )
        return Checkpoint.from_json(response.json())

    def restore_checkpoint(self, stream_id: str, name: str) -> Stream:
        """Brings the checkpoint's adaptation back; the stream keeps its class set and hyperparameters."""
        return Stream.from_json(self._request("POST", _checkpoint(stream_id, name) + "/restore").json())

    def delete_checkpoint(self, stream_id: str, name: str) -> None:
        self._request("DELETE", _checkpoint(stream_id, name))

    # Transport

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        retries = 0
        while True:
            response = self._session.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
            if response.status_code < 400:
                return response
            error = _error(response)
            response.close()
            if not error.retryable or retries >= self.max_retries:
                raise error
            retries += 1
            delay = min(error.retry_after or 0.0, self.max_retry_delay)
            if self.on_retry is not None:
                self.on_retry(error, delay, retries)
            time.sleep(delay)


def _stream(stream_id: str) -> str:
    return "/v1/streams/" + quote(stream_id, safe="")


def _checkpoint(stream_id: str, name: str) -> str:
    return _stream(stream_id) + "/checkpoints/" + quote(name, safe="")


def _class_set(
    labels: Optional[Sequence[str]], prompts: Optional[Mapping[str, Sequence[str]]], templates: Optional[Sequence[str]]
) -> Dict[str, Any]:
    if labels is None and prompts is None:
        raise ValueError("give labels, prompts or both")
    body: Dict[str, Any] = {}
    if labels is not None:
        body["labels"] = list(labels)
    if prompts is not None:
        body["prompts"] = {label: list(texts) for label, texts in prompts.items()}
    if templates is not None:
        body["templates"] = list(templates)
    return body


def _image_list(images: Any) -> List[Any]:
    if isinstance(images, (list, tuple)):
        return list(images)
    if type(images).__module__.startswith("numpy") and getattr(images, "ndim", 0) == 4:
        return list(images)
    if isinstance(images, (str, bytes, bytearray, memoryview, os.PathLike)) or not isinstance(images, Iterable):
        return [images]
    if type(images).__module__.startswith(("numpy", "PIL.")):
        return [images]
    return list(images)


def _error(response: requests.Response) -> RadaError:
    code, message = "http_" + str(response.status_code), response.reason or ""
    try:
        body = response.json()
        code, message = body["error"]["code"], body["error"]["message"]
    except (ValueError, KeyError, TypeError):
        # Not the server's error shape (e.g. a proxy in front answered); keep the status.
        pass
    return RadaError(response.status_code, code, message, _retry_after(response.headers.get("Retry-After")))


def _retry_after(value: Optional[str]) -> Optional[float]:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
