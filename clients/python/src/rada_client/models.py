"""Typed views of the server's JSON answers. Each keeps the raw JSON in `raw`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple


@dataclass(frozen=True)
class Prediction:
    label: str
    probability: float


@dataclass(frozen=True)
class ImageResult:
    """One image's answer: its top labels (most probable first) and the entropy (nats)."""

    top: List[Prediction]
    entropy: float

    @property
    def label(self) -> str:
        return self.top[0].label


@dataclass(frozen=True)
class Classification:
    results: List[ImageResult]
    #: The stream's request count after this request (None for stateless classification).
    request: Optional[int]
    #: Optimiser steps taken before the answer; None under predictThenAdapt (they run after it).
    optimizer_steps: Optional[int]
    raw: Dict[str, Any] = field(repr=False, compare=False)

    @staticmethod
    def from_json(body: Dict[str, Any]) -> "Classification":
        results = [
            ImageResult(
                top=[Prediction(p["label"], float(p["probability"])) for p in r["top"]],
                entropy=float(r["entropy"]),
            )
            for r in body["results"]
        ]
        return Classification(results, body.get("request"), body.get("optimizerSteps"), body)

    @property
    def labels(self) -> List[str]:
        """The top-1 label of each image, in order."""
        return [r.label for r in self.results]


@dataclass(frozen=True)
class Stream:
    id: str
    labels: List[str]
    hyperparameters: Dict[str, Any]
    created_at: str
    #: Requests processed (optimizer_steps counts the optimiser's steps).
    requests: int
    samples_seen: int
    optimizer_steps: int
    skipped_steps: int
    automatic_resets: int
    running_entropy: Optional[float]
    memory_bytes: int
    checkpoints: List[str]
    raw: Dict[str, Any] = field(repr=False, compare=False)

    @staticmethod
    def from_json(body: Dict[str, Any]) -> "Stream":
        return Stream(
            id=body["id"],
            labels=list(body["labels"]),
            hyperparameters=body["hyperparameters"],
            created_at=body["createdAt"],
            requests=body["requests"],
            samples_seen=body["samplesSeen"],
            optimizer_steps=body["optimizerSteps"],
            skipped_steps=body["skippedSteps"],
            automatic_resets=body["automaticResets"],
            running_entropy=body.get("runningEntropy"),
            memory_bytes=body["memoryBytes"],
            checkpoints=list(body["checkpoints"]),
            raw=body,
        )


@dataclass(frozen=True)
class StreamSummary:
    """An entry of the stream list: the id, the number of labels and the creation time."""

    id: str
    labels: int
    created_at: str


@dataclass(frozen=True)
class Checkpoint:
    name: str
    bytes: int
    created_at: Optional[str]

    @staticmethod
    def from_json(body: Dict[str, Any]) -> "Checkpoint":
        return Checkpoint(body["name"], body["bytes"], body.get("createdAt"))


@dataclass(frozen=True)
class HistoryEntry:
    """One point of a stream's history: a request (`kind == "request"`) or a mark
    (`reset`, `restore`, `checkpoint`)."""

    seq: int
    #: Milliseconds since 1970-01-01 UTC.
    time: int
    kind: str
    images: Optional[int] = None
    mean_entropy: Optional[float] = None
    mean_confidence: Optional[float] = None
    #: Predicted classes as (label index, images) pairs; only classes predicted.
    classes: Optional[List[Tuple[int, int]]] = None
    adapted: Optional[bool] = None
    #: Optimiser steps the request took.
    steps: Optional[int] = None
    #: Why no step was taken: "notRequested" or "filtered".
    skipped: Optional[str] = None
    automatic_reset: Optional[bool] = None
    #: The checkpoint's name, for checkpoint and restore marks.
    checkpoint: Optional[str] = None

    @staticmethod
    def from_json(body: Dict[str, Any]) -> "HistoryEntry":
        classes = body.get("classes")
        return HistoryEntry(
            seq=body["seq"], time=body["time"], kind=body["kind"], images=body.get("images"),
            mean_entropy=body.get("meanEntropy"), mean_confidence=body.get("meanConfidence"),
            classes=None if classes is None else [(int(i), int(n)) for i, n in classes],
            adapted=body.get("adapted"), steps=body.get("steps"), skipped=body.get("skipped"),
            automatic_reset=body.get("automaticReset"), checkpoint=body.get("checkpoint"))


@dataclass(frozen=True)
class History:
    """A page of `GET /v1/streams/{id}/history`: entries after `since`, oldest first."""

    id: str
    labels: List[str]
    budget_bytes: int
    used_bytes: int
    #: `seq` of the stream's newest entry (0 before the first).
    latest: int
    #: More entries follow the last one here (ask again with since = its seq).
    more: bool
    entries: List[HistoryEntry]

    @staticmethod
    def from_json(body: Dict[str, Any]) -> "History":
        return History(
            id=body["id"], labels=list(body["labels"]), budget_bytes=body["budgetBytes"], used_bytes=body["usedBytes"],
            latest=body["latest"], more=body["more"], entries=[HistoryEntry.from_json(e) for e in body["entries"]])
