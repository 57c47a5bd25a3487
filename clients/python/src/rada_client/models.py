"""Typed views of the server's JSON answers. Each keeps the raw JSON in `raw`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


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
