"""A user's own twisted.web resource: `--resource web_resource:make_root`.

`POST /api/greet` with a JSON body {"name": ...} and the header `X-Api-Key: secret` is
answered with a JSON greeting; a missing key is 403, a bad body 400, any other path 404 (so
a wrong request template shows as errors, not as throughput).
"""

from __future__ import annotations

import json

from twisted.web.resource import Resource
from twisted.web.server import Request


class Greet(Resource):
    isLeaf = True

    def render_POST(self, request: Request) -> bytes:
        if request.getHeader("x-api-key") != "secret":
            request.setResponseCode(403)
            return b"forbidden\n"
        try:
            name = json.loads(request.content.read())["name"]  # type: ignore[union-attr]
        except (ValueError, KeyError, TypeError):
            request.setResponseCode(400)
            return b"bad body\n"
        request.setHeader(b"content-type", b"application/json")
        return json.dumps({"greeting": f"hello, {name}"}).encode()


def make_root() -> Resource:
    root = Resource()
    api = Resource()
    root.putChild(b"api", api)
    api.putChild(b"greet", Greet())
    return root


def not_a_resource() -> object:
    return object()
