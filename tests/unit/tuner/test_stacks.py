"""Sampled stacks placed in categories (tuner._stacks), on stacks as py-spy writes them."""

from __future__ import annotations

import json

from tuner._stacks import (
    Category,
    category_samples,
    collapsed,
    self_samples,
    speedscope,
    stack_category,
)

MAIN = "<module> (harness/_server/__main__.py:154);ReactorBase.run (twisted/internet/base.py:686)"
DISPATCH = f"{MAIN};EPollReactor.doPoll (twisted/internet/epollreactor.py:244)"
READ = f"{DISPATCH};Connection.doRead (twisted/internet/tcp.py:250)"
ECHO = f"{READ};EchoProtocol.dataReceived (harness/_server/echo.py:40)"


def test_the_innermost_frame_with_a_kind_decides() -> None:
    assert stack_category(DISPATCH) is Category.LOOP
    assert stack_category(READ) is Category.TWISTED
    assert stack_category(ECHO) is Category.USER
    # The standard library and other libraries count for the code that called them.
    assert stack_category(f"{ECHO};dumps (json/__init__.py:231)") is Category.USER
    assert stack_category(f"{READ};providedBy (zope/interface/declarations.py:1)") is (
        Category.TWISTED
    )
    # A user's own module, named as Python found it, or by an absolute path.
    assert stack_category(f"{READ};Pong.lineReceived (line_server.py:14)") is Category.USER
    assert stack_category(f"{READ};handle (/srv/app/api.py:9)") is Category.USER
    # twistune's transport patches are Twisted's machinery; asyncio is a loop.
    assert stack_category(f"{READ};ResumeAtWatermark.doWrite (harness/_apply/transport.py:52)") is (
        Category.TWISTED
    )
    assert stack_category("_run_once (asyncio/base_events.py:1922)") is Category.LOOP
    assert stack_category("<module> (harness/_server/__main__.py:154)") is Category.REST
    assert stack_category("sleep (time.py:1)") is Category.REST


def test_counts_and_self_time() -> None:
    stacks = [(DISPATCH, 5), (READ, 3), (ECHO, 2), ("wait (threading.py:1)", 1)]
    assert category_samples(stacks) == {
        Category.LOOP: 5,
        Category.TWISTED: 3,
        Category.USER: 2,
        Category.REST: 1,
    }
    assert self_samples(stacks).most_common(2) == [
        ("EPollReactor.doPoll (twisted/internet/epollreactor.py)", 5),
        ("Connection.doRead (twisted/internet/tcp.py)", 3),
    ]


def test_flame_graph_formats() -> None:
    stacks = [(READ, 3), (ECHO, 2)]
    assert collapsed(stacks) == f"{READ} 3\n{ECHO} 2\n"
    document = json.loads(speedscope({"defaults": stacks, "tuned": stacks[:1]}, 100.0))
    frames = document["shared"]["frames"]
    assert {"name": "Connection.doRead", "file": "twisted/internet/tcp.py", "line": 250} in frames
    first, second = document["profiles"]
    assert first["weights"] == [0.03, 0.02]
    assert [frames[i]["name"] for i in first["samples"][1]][-1] == "EchoProtocol.dataReceived"
    assert second["endValue"] == 0.03
