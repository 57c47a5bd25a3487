"""The one exception type: the server's error code and message, plus the HTTP status."""

from __future__ import annotations

from typing import Optional


class RadaError(Exception):
    """An error answer from the server (`{"error": {"code", "message"}}`).

    `code` is the server's machine-readable code (``not_found``, ``queue_full``, ...), `message`
    its explanation, `status` the HTTP status and `retry_after` the seconds the server asked the
    client to wait (None when it did not send ``Retry-After``).
    """

    def __init__(self, status: int, code: str, message: str, retry_after: Optional[float] = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Whether the server marked this answer as transient (429, or 503 with Retry-After)."""
        return self.retry_after is not None and self.status in (429, 503)
