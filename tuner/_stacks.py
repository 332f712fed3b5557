"""Where sampled stacks of a Twisted server spend their time: categories, self time, flame graphs.

A stack is py-spy's collapsed form: "function (file:line)" frames joined
by ";", outermost first; file names are as Python found them, relative to
their sys.path entry ("twisted/internet/tcp.py", "selectors.py",
"myserver.py") or absolute. A sample's category is that of its innermost
frame that belongs to one of the three kinds of code a Twisted server runs:
the event loop's wait and dispatch, Twisted's transports and protocol
machinery, or the user's code. Frames of the standard library and of other
libraries are skipped over to the code that called them (a `json.dumps` in
a protocol's `dataReceived` is the protocol's time); a sample with no such
frame is "rest". The kernel's share and the garbage collector's come from
elsewhere (/proc, the GC observer), not from stacks.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum


class Category(StrEnum):
    KERNEL = "kernel"  # system CPU: the kernel's send, receive and poll for the server
    LOOP = "event loop"  # the reactor's wait and dispatch (and asyncio's, selectors)
    TWISTED = "Twisted"  # transports, protocol machinery, twistune's transport patches
    USER = "your code"  # the protocol, factory, resource or program being served
    GC = "garbage collector"
    REST = "rest"  # samples with none of the frames above


# Twisted's files that are the event loop itself: the reactors, the main loop, and the
# wrappers every dispatched event passes through.
LOOP_FILES = frozenset(
    {
        "twisted/internet/base.py",
        "twisted/internet/posixbase.py",
        "twisted/internet/epollreactor.py",
        "twisted/internet/pollreactor.py",
        "twisted/internet/selectreactor.py",
        "twisted/internet/asyncioreactor.py",
        "twisted/internet/default.py",
        "twisted/python/log.py",
        "twisted/python/context.py",
    }
)
LOOP_MODULES = frozenset({"asyncio", "selectors", "uvloop"})
# twistune's built-in servers: their protocols stand where a user's code would.
BUILTIN_SERVERS = "harness/_server/"
# Libraries a server imports that are neither Twisted nor the user's code.
LIBRARIES = frozenset(
    {
        "zope",
        "hdrh",
        "httptools",
        "psutil",
        "incremental",
        "constantly",
        "automat",
        "hyperlink",
        "attr",
        "attrs",
        "typing_extensions",
        "idna",
    }
)


def frame_file(frame: str) -> str:
    """The file of a "function (file:line)" frame ("" when it has none)."""
    if not frame.endswith(")") or " (" not in frame:
        return ""
    return frame.rsplit(" (", 1)[1][:-1].rsplit(":", 1)[0]


def frame_function(frame: str) -> str:
    """The function of a "function (file:line)" frame, with its file but not its line."""
    return f"{frame.rsplit(' (', 1)[0]} ({frame_file(frame)})" if frame_file(frame) else frame


def _importable(path: str) -> str:
    """A frame's file as its package path: below site-packages or dist-packages when it is
    an installed library's ("/venv/.../site-packages/twisted/x.py" -> "twisted/x.py")."""
    for marker in ("site-packages/", "dist-packages/"):
        if marker in path:
            path = path.rsplit(marker, 1)[1]
    return path


def frame_category(frame: str) -> Category | None:
    """The frame's kind of code, or None for the standard library and other libraries
    (skipped to their caller) and for frames without a file."""
    path = frame_file(frame)
    if not path or path.startswith("<"):
        return None
    path = _importable(path)
    if path in LOOP_FILES:
        return Category.LOOP
    if path.startswith("twisted/"):
        return Category.TWISTED
    if path.startswith(BUILTIN_SERVERS):
        return None if path.endswith("__main__.py") else Category.USER
    if path.startswith("harness/"):
        return Category.TWISTED  # twistune's patches of Twisted's transports and reactors
    top = path.lstrip("/").split("/", 1)[0].removesuffix(".py")
    if top in LOOP_MODULES:
        return Category.LOOP
    if top in sys.stdlib_module_names or top in LIBRARIES or "/lib/python3" in path:
        return None
    return Category.USER


def stack_category(stack: str) -> Category:
    """The category of a sample: its innermost frame that has one, else REST."""
    for frame in reversed(stack.split(";")):
        category = frame_category(frame)
        if category is not None:
            return category
    return Category.REST


def category_samples(stacks: Iterable[tuple[str, int]]) -> dict[Category, int]:
    """Samples per category (LOOP, TWISTED, USER, REST), every category present."""
    counts = dict.fromkeys((Category.LOOP, Category.TWISTED, Category.USER, Category.REST), 0)
    for stack, count in stacks:
        counts[stack_category(stack)] += count
    return counts


def self_samples(stacks: Iterable[tuple[str, int]]) -> Counter[str]:
    """Samples per innermost function ("name (file)"): its self time."""
    counts: Counter[str] = Counter()
    for stack, count in stacks:
        counts[frame_function(stack.rsplit(";", 1)[-1])] += count
    return counts


def speedscope(profiles: Mapping[str, Sequence[tuple[str, int]]], rate_hz: float) -> str:
    """The stacks of each named profile as one speedscope file (its JSON schema,
    https://www.speedscope.app/file-format-schema.json): sampled profiles, weights in
    seconds (samples / `rate_hz`)."""
    frames: list[dict[str, object]] = []
    index: dict[str, int] = {}
    shown = []
    for name, stacks in profiles.items():
        samples, weights = [], []
        for stack, count in stacks:
            row = []
            for frame in stack.split(";"):
                if frame not in index:
                    index[frame] = len(frames)
                    path = frame_file(frame)
                    line = frame.rsplit(":", 1)[1][:-1] if path else ""
                    entry: dict[str, object] = {"name": frame.rsplit(" (", 1)[0], "file": path}
                    if line.isdigit():
                        entry["line"] = int(line)
                    frames.append(entry)
                row.append(index[frame])
            samples.append(row)
            weights.append(count / rate_hz)
        shown.append(
            {
                "type": "sampled",
                "name": name,
                "unit": "seconds",
                "startValue": 0,
                "endValue": sum(weights),
                "samples": samples,
                "weights": weights,
            }
        )
    return json.dumps(
        {
            "$schema": "https://www.speedscope.app/file-format-schema.json",
            "shared": {"frames": frames},
            "profiles": shown,
            "name": "twistune profile",
            "exporter": "twistune",
        }
    )


def collapsed(stacks: Iterable[tuple[str, int]]) -> str:
    """Collapsed stacks, one "frame;frame;... COUNT" line each (flamegraph.pl's input)."""
    return "".join(f"{stack} {count}\n" for stack, count in stacks)
