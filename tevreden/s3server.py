"""A local S3-compatible server for the test infrastructure: moto's S3 backend over HTTP.

Run as ``python -m tevreden.s3server --host 127.0.0.1 --port N``; :class:`tevreden.infra.LocalS3`
starts it as a child process, so it outlives any broker that stores its data in it.

Requests are served one at a time. moto checks an ``If-Match`` / ``If-None-Match`` precondition
and then writes, in two steps; two concurrent conditional PUTs on one key could otherwise both
pass. Tansu's S3 storage relies on conditional PUTs being atomic, as they are on real S3.

Needs the ``dev`` extra (moto, flask); only the tests and their infrastructure use it.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _OneAtATime:
    """WSGI middleware: one request in the wrapped app at a time, body produced under the lock."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            result = self._app(environ, start_response)
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    # Imported here: moto is a dev dependency and slow to import.
    from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    app = _OneAtATime(create_backend_app("s3"))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
