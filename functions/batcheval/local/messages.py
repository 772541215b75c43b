"""HTTP requests and responses as the local gateway sees them: raw bytes and header pairs, no sockets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


def last_header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    """The last value of a header (case-insensitive): how duplicates resolve to one value."""
    wanted = name.lower()
    found = None
    for key, value in headers:
        if key.lower() == wanted:
            found = value
    return found


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    raw_path: str
    """Path as received, still percent-encoded (what SigV4 signed and API Gateway matches on)."""
    raw_query: str
    headers: Sequence[tuple[str, str]]
    body: bytes
    source_ip: str = "127.0.0.1"

    def header(self, name: str) -> str | None:
        return last_header(self.headers, name)


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return last_header(self.headers, name)
