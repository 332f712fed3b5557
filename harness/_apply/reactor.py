"""Installing the reactor a `Settings` names, before anything imports the global reactor.

`harness.serve` exports it for a user's program; the server child (through
`harness.serve`) and the settings shim (`harness._apply.patch`) call it too. Twisted and
uvloop are imported only when it is called.
"""

from __future__ import annotations

from typing import Any

from harness._values.settings import Reactor, Settings


def install_reactor(settings: Settings) -> Any:
    """Install and return the reactor `settings` names; call before importing the reactor."""
    reactor = settings.reactor
    if reactor is Reactor.EPOLL:
        from twisted.internet import epollreactor

        epollreactor.install()
    elif reactor is Reactor.POLL:
        from twisted.internet import pollreactor

        pollreactor.install()
    elif reactor is Reactor.SELECT:
        from twisted.internet import selectreactor

        selectreactor.install()
    else:
        import asyncio

        from twisted.internet import asyncioreactor

        if reactor is Reactor.ASYNCIO_UVLOOP:
            import uvloop

            asyncioreactor.install(eventloop=uvloop.new_event_loop())
        else:
            asyncioreactor.install(eventloop=asyncio.new_event_loop())
    from twisted.internet import reactor as installed

    return installed
