"""Twisted side (server child only): a user's own protocol factory or twisted.web resource.

`build_factory(params, settings, reactor)` is the server factory of the
`factory` and `resource` workloads (`harness._values.own_workload`): it imports the
user's "module:callable" the way `python -m` imports a module (the directory
twistune was started in comes first on the path; the children inherit it),
calls it with no arguments, and checks what it returned:

- `factory`: an `IProtocolFactory` (a `Factory` subclass itself will do:
  calling the class makes one), served as it is on the tuned port;
- `resource`: a twisted.web `IResource`, served from a `Site` that carries
  the HTTP knobs (`harness._server.http.build_site`).

What goes wrong raises `OwnServerError`, whose message is the one line the
user sees: the module that does not import (and why), a name it lacks, an
object that is not callable, a callable that raised, or one that returned
the wrong kind of object.
"""

from __future__ import annotations

import importlib
import os
import traceback
from collections.abc import Mapping
from typing import Any

from twisted.internet.interfaces import IProtocolFactory
from twisted.web.resource import IResource

from harness._values.own_workload import OwnServerError
from harness._values.settings import Settings


def load_callable(path: str, flag: str) -> Any:
    """The object "module:name" (name may be dotted) names; OwnServerError if it cannot be had."""
    module_name, _, attribute = path.partition(":")
    try:
        value: Any = importlib.import_module(module_name)
    except Exception as exc:  # the user's module failed to import, for whatever reason
        frames = traceback.extract_tb(exc.__traceback__)
        here = os.path.dirname(__file__)
        own = [f for f in frames if "importlib" not in f.filename and here not in f.filename]
        at = f" ({own[-1].filename}:{own[-1].lineno})" if own else ""
        raise OwnServerError(
            f"{flag} {path}: module {module_name!r} does not import: "
            f"{type(exc).__name__}: {exc}{at}"
        ) from None
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise OwnServerError(f"{flag} {path}: {module_name!r} has no {attribute!r}") from None
    if not callable(value):
        raise OwnServerError(
            f"{flag} {path}: is a {type(value).__name__}, not a callable "
            f"(it must return {'a protocol factory' if flag == '--factory' else 'a resource'})"
        )
    return value


def _built(path: str, flag: str) -> Any:
    builder = load_callable(path, flag)
    try:
        return builder()
    except Exception as exc:
        raise OwnServerError(
            f"{flag} {path}: calling it with no arguments raised {type(exc).__name__}: {exc}"
        ) from None


def build_factory(params: Mapping[str, object], settings: Settings, reactor: Any) -> Any:
    """The user's server for a `factory` or `resource` workload; OwnServerError if it
    cannot be built (see the module docstring)."""
    kind, path = str(params["kind"]), str(params["server"])
    flag = f"--{kind}"
    built = _built(path, flag)
    if kind == "factory":
        if not IProtocolFactory.providedBy(built):
            raise OwnServerError(
                f"{flag} {path}: returned {_kind_of(built)}, not a protocol factory "
                "(an IProtocolFactory, such as a twisted.internet.protocol.Factory)"
            )
        return built
    if not IResource.providedBy(built):
        raise OwnServerError(
            f"{flag} {path}: returned {_kind_of(built)}, not a twisted.web resource "
            "(an IResource, such as a twisted.web.resource.Resource)"
        )
    from harness._server.http import build_site

    return build_site(built, settings, reactor)


def _kind_of(value: object) -> str:
    return "None" if value is None else f"a {type(value).__module__}.{type(value).__qualname__}"
