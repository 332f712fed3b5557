"""Serve with tuned settings in a real Twisted program (this module imports Twisted).

    from harness import load_settings
    from harness.serve import install_reactor, listen_tcp, tune_gc

    settings = load_settings("twistune.toml")   # what `twistune export` wrote
    reactor = install_reactor(settings)          # before anything imports the reactor
    listen_tcp(reactor, 8080, MyFactory(), settings)
    tune_gc(settings, reactor)                   # last, just before the reactor runs
    reactor.run()

These are the functions the harness's own server child uses, in this order,
so what a trial measured is what the program runs. `listen_tcp` raises
`twisted.internet.error.CannotListenError` when it cannot bind and
`SettingRefusedError` when the kernel caps a socket buffer. `tune_gc` applies
the garbage-collector knobs (thresholds, `gc.freeze()`, collection off with a
periodic collect) and raises nothing; called after the program's own start-up,
its freeze takes in everything start-up made. Write batching and the stream
producer knobs describe the harness's own workloads: a program applies them in
its protocols if it wants them.
"""

from __future__ import annotations

from typing import Any

from harness._apply.gc import PeriodicCollection, tune_gc
from harness._apply.reactor import install_reactor
from harness._apply.socket_options import SettingRefusedError
from harness._apply.transport import TunedPort
from harness._values.settings import Settings


def listen_tcp(
    reactor: Any, port: int, factory: Any, settings: Settings, interface: str = ""
) -> TunedPort:
    """Listen like `reactor.listenTCP`, with every connection tuned by `settings`."""
    listening = TunedPort(settings, port, factory, interface, reactor)
    listening.startListening()
    return listening


__all__ = [
    "PeriodicCollection",
    "SettingRefusedError",
    "TunedPort",
    "install_reactor",
    "listen_tcp",
    "tune_gc",
]
