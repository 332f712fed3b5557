"""What the http workload's request path says (no Twisted): which body a response carries.

The built-in http workload's client asks for its scenario's body in the
request path (`body_path`), and both servers, the Twisted resource
(`harness._server.http`) and the reference server (`harness._server.reference_http`),
read it back (`parse_body_path`): a trial serving a scenario set from one
server process then serves every scenario its own size and framing. A path
that names no body gets the workload's own (`default_body`).
"""

from __future__ import annotations

from collections.abc import Mapping

# Bytes per request.write of a chunked response (one chunk each).
CHUNK_BYTES = 16 * 1024
# The largest body a request path may ask for (HttpWorkload's own limit).
MAX_BODY_BYTES = 1024 * 1024 * 1024
# The byte every body is made of.
BODY_BYTE = b"x"


def body_path(response_bytes: int, chunked: bool) -> str:
    """The path that asks for this body: "/1024" for 1024 bytes framed by Content-Length,
    "/1024/chunked" for them chunked."""
    return f"/{response_bytes}" + ("/chunked" if chunked else "")


def parse_body_path(target: bytes) -> tuple[int, bool] | None:
    """(bytes, chunked) that a request target (path, query ignored) asks for; None when it
    names no body (any other path) or one over `MAX_BODY_BYTES`."""
    parts = target.split(b"?", 1)[0].strip(b"/").split(b"/")
    if not parts[0].isdigit() or len(parts) > 2 or (len(parts) == 2 and parts[1] != b"chunked"):
        return None
    size = int(parts[0])
    return (size, len(parts) == 2) if size <= MAX_BODY_BYTES else None


def default_body(params: Mapping[str, object]) -> tuple[int, bool]:
    """The body for a path that names none: the workload's `response_bytes` and `chunked`
    (a scenario set's first value where they vary; 0 bytes when absent)."""

    def first(name: str) -> int:
        value = params.get(name, 0)
        if isinstance(value, list):
            value = value[0]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name}: {value!r} is not a whole number")
        return value

    return first("response_bytes"), bool(first("chunked"))


def chunks_of(body: bytes) -> tuple[bytes, ...]:
    """`body` in `CHUNK_BYTES` pieces (none for an empty body)."""
    return tuple(body[i : i + CHUNK_BYTES] for i in range(0, len(body), CHUNK_BYTES))
