"""Python client for RAdaServe: streams that classify images and adapt while they serve."""

from .client import MAX_IMAGES_PER_REQUEST, Client, RetryHook
from .errors import RadaError
from .images import encode_png
from .models import Checkpoint, Classification, History, HistoryEntry, ImageResult, Prediction, Stream, StreamSummary

__all__ = [
    "Checkpoint",
    "Classification",
    "Client",
    "History",
    "HistoryEntry",
    "ImageResult",
    "MAX_IMAGES_PER_REQUEST",
    "Prediction",
    "RadaError",
    "RetryHook",
    "Stream",
    "StreamSummary",
    "encode_png",
]
