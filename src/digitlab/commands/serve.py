"""`digitlab serve`: a local web page to draw a digit and see what every method answers."""

from __future__ import annotations

import argparse

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="a web page to draw or upload a digit and see every method's answer",
        description="Serve a page (and a JSON API: POST /api/predict, GET /api/models, GET /healthz) "
        "that runs one saved model per method on a digit drawn with mouse or finger, or on an uploaded "
        "photo: the ten-digit model where a method has several (a drawing can be any digit), else the "
        "newest. Models come from --models, else ./digitlab-out (the last compare), else the four "
        "that ship with digitlab.",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 opens it to the network)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on; 0 picks a free one (default: 8000)")
    parser.add_argument("--models", metavar="DIR",
                        help="a folder of saved models, as `digitlab compare --out` writes (default: ./digitlab-out)")
    parser.set_defaults(run=run)


def _listen(host: str, port: int):
    """A bound, listening socket, or a DigitlabError that says how to pick another address."""
    import socket

    from digitlab.errors import DigitlabError

    if not 0 <= port <= 65535:
        raise DigitlabError(f"--port {port}: give a port between 1 and 65535 (or 0 for a free one)")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as err:
        raise DigitlabError(f"--host {host}: not an address of this machine ({err}); try 127.0.0.1") from None
    # Named as TCP, asyncio sets TCP_NODELAY on every accepted connection (it checks the protocol);
    # without it Nagle's algorithm held each answer back ~40 ms, waiting for the client's ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets on Linux too
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise DigitlabError(f"--host {host} --port {port}: cannot listen there ({err.strerror}); "
                            "pick another --port, or 0 for a free one") from None
    sock.listen(128)
    return sock


def run(args: argparse.Namespace) -> int:
    import sys

    import torch
    import uvicorn

    from digitlab.console import console
    from digitlab.web import guard
    from digitlab.web.app import create_app
    from digitlab.web.models import resolve

    sock = _listen(args.host, args.port)  # first, so a taken port fails before any model is loaded
    with sock:
        app = create_app(resolve(args.models))
        host, port = sock.getsockname()[:2]
        if args.host not in LOOPBACK:
            console.print(f"digitlab serve: listening on {args.host}, so other machines can reach this page")
        shown = f"[{host}]" if ":" in host else host
        # Plain print, one unwrapped line: scripts (and the tests) read the port from it.
        print(f"digitlab serve: open http://{shown}:{port}/  (Ctrl-C stops)", file=sys.stderr, flush=True)
        # One inference thread runs the models (web/batching.py) beside the decoding threads: torch's
        # own threads would only compete with those for the same cores.
        torch.set_num_threads(1)
        limits = guard.Limits()
        config = uvicorn.Config(app, host=host, port=port, log_level="info", access_log=False,
                                http=guard.protocol(limits), timeout_keep_alive=limits.keep_alive_seconds)
        uvicorn.Server(config).run(sockets=[sock])
    return 0
