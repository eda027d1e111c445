"""`digitlab serve`: a local web page to draw a digit and see what every method answers."""

from __future__ import annotations

import argparse
import os

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="a web page to draw or upload a digit and see every method's answer",
        description="Serve a page (and a JSON API: POST /api/predict, GET /api/models, GET /healthz) "
        "that runs one saved model per method on a digit drawn with mouse or finger, or on an uploaded "
        "photo: the ten-digit model where a method has several (a drawing can be any digit), else the "
        "newest. Models come from --models, else ./digitlab-out (the last compare), else the four "
        "that ship with digitlab; a quick compare's smoke models are never served. It holds its clients to limits: 256 connections at once; a request's "
        "head within 10 s, its URL and each header within 8 KB and all its headers within 64 KB (414 or "
        "431 past them); its body within 60 s and 2 MB; and it answers only to this machine's loopback "
        "names and --host (400 for any other Host: see --allow-host). SIGTERM stops it within 5 s.",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 opens it to the network)")
    parser.add_argument("--allow-host", metavar="NAME", action="append", default=[],
                        help="a name the page may be reached by besides localhost, 127.0.0.1, [::1] and --host "
                        "(repeatable): a request naming any other host is refused, so that no web site can reach "
                        "this server through the visitor's browser (DNS rebinding)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on; 0 picks a free one (default: 8000)")
    parser.add_argument("--models", metavar="DIR",
                        help="a folder of saved models, as `digitlab compare --out` writes (default: ./digitlab-out)")
    parser.add_argument("--workers", type=int, default=None,
                        help="server processes sharing the port, each with its own copy of the models (330-440 MB): "
                        "one Python process answers on about one core (default: one a core, at most "
                        f"{MOST_WORKERS}: {default_workers()} on this machine)")
    parser.set_defaults(run=run)


MOST_WORKERS = 2  # each holds its models and torch (330-440 MB, 2026-12-07): two peak at 900 MB, three pass 1 GB


def default_workers() -> int:
    """One server process a core this process may run on, at most MOST_WORKERS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity on this platform
        cores = os.cpu_count() or 1
    return max(1, min(cores, MOST_WORKERS))


def _listen(host: str, port: int, shared: bool = False, listen: bool = True):
    """A bound (and listening) socket, or a DigitlabError that says how to pick another address.

    `shared`: several sockets may bind the port (SO_REUSEPORT), each in its own server process, and
    the kernel shares the new connections out among those listening.
    """
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
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise DigitlabError(f"--host {host} --port {port}: cannot listen there ({err.strerror}); "
                            "pick another --port, or 0 for a free one") from None
    if listen:
        sock.listen(128)
    return sock


GRACE_SECONDS = 2  # after SIGTERM, answers under way get this long (a large photo decodes in about 1 s)


def _server(app, host: str, port: int, hosts: frozenset[str]):
    """uvicorn's server for `app`, speaking HTTP through the connection guard, answering to `hosts`."""
    import uvicorn

    from digitlab.web import guard

    limits = guard.Limits()
    config = uvicorn.Config(app, host=host, port=port, log_level="info", access_log=False,
                            http=guard.protocol(limits, hosts), timeout_keep_alive=limits.keep_alive_seconds,
                            timeout_graceful_shutdown=GRACE_SECONDS)
    return uvicorn.Server(config)


def _app(models: dict, **options):
    """The app one server process answers with, from its models ({method: Served}); `options` go to create_app."""
    import torch

    from digitlab.web.app import create_app

    # One inference thread runs the models (web/batching.py) beside the decoding threads: torch's
    # own threads would only compete with those for the same cores.
    torch.set_num_threads(1)
    return create_app(models, **options)


def run(args: argparse.Namespace) -> int:
    import signal
    import sys

    from digitlab.console import console
    from digitlab.errors import DigitlabError
    from digitlab.web.hosts import allowed_names, check_name

    for name in args.allow_host:
        if (wrong := check_name(name)) is not None:
            raise DigitlabError(f"--allow-host {name!r}: {wrong}")
    if args.workers is None:
        args.workers = default_workers()
    if args.workers < 1:
        raise DigitlabError(f"--workers {args.workers}: give 1 or more server processes")
    # First, so a taken port fails before any model is loaded. With workers, this socket only holds
    # the port (a free one, for --port 0) and never listens: each worker listens on its own.
    sock = _listen(args.host, args.port, shared=args.workers > 1, listen=args.workers == 1)
    with sock:
        if args.workers == 1:  # chosen (and checked) once: here, or with workers in a process of its own (`_chosen`)
            from digitlab.web.models import resolve  # torch with it (store.checkpoint)
            models = resolve(args.models)  # served below, where no worker was started
        host, port = sock.getsockname()[:2]
        hosts = allowed_names(args.host, tuple(args.allow_host))
        workers, stopping = [], []
        previous = signal.getsignal(signal.SIGTERM)
        try:
            if args.workers > 1:
                # SIGTERM is heard from before the first worker starts: one that came while the others
                # were still starting killed this process alone, and left the workers answering.
                signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
                folders = _chosen(args.models, stopping)
                if folders is None:  # SIGTERM came while they were chosen
                    return 0
                workers = _start(folders, host, port, hosts, args.workers)  # each loads its own copy
            if args.host not in LOOPBACK:
                console.print(f"digitlab serve: listening on {args.host}, so other machines can reach this page "
                              f"by the names it answers to: {', '.join(sorted(hosts))} (--allow-host adds one)")
            shown = f"[{host}]" if ":" in host else host
            # Plain print, one unwrapped line, once the port listens: scripts (and the tests) read the port from it.
            print(f"digitlab serve: open http://{shown}:{port}/  (Ctrl-C stops)", file=sys.stderr, flush=True)
            if workers:
                return _supervise(workers, stopping)
            _server(_app(models), host, port, hosts).run(sockets=[sock])
        finally:
            signal.signal(signal.SIGTERM, previous)
    return 0


# ---- several server processes on one port ----
# One Python process answers on about one core (its threads share one interpreter lock), so
# `--workers N` starts N processes. Each listens on its own socket bound to the port
# (SO_REUSEPORT), and the kernel gives each new connection to one of them: one socket shared by
# all did not do, as the first process to wake accepted all 50 of a load test's connections, and
# kept them (keep-alive). benchmarks/RESULTS.md, the web server, has the figures.

DECODERS_EACH = 1  # decoding threads a worker: more would only wait on its one interpreter lock
STOP_SECONDS = 4  # a worker gets this long to stop after SIGTERM (GRACE_SECONDS, then its lifespan's end),
# then it is killed: the server stops within 5 s whatever its clients do (it took 59.7 s with a slow upload)


def _chosen(models: str | None, stopping: list) -> dict | None:
    """{method: folder} as `web.models.resolve` chooses them, in a process of its own that ends once it has
    answered: the supervisor never imports torch (236 MB of a two-worker server's 1,058 after a load test's
    round; benchmarks/RESULTS.md, "Memory"). None: SIGTERM came first (`stopping`)."""
    import multiprocessing

    from digitlab.errors import DigitlabError

    reading, writing = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.get_context("spawn").Process(target=_choose, args=(models, writing),
                                                           name="digitlab-serve-choose")
    process.start()
    writing.close()  # the chooser holds the only writing end now: its end reads as EOF here
    try:
        while not stopping and process.is_alive() and not reading.poll(0.1):
            pass  # polled, not waited on: SIGTERM must stop the server within 5 s, choosing or not
        kind, value = reading.recv() if not stopping and reading.poll() else ("stopped", None)
    except EOFError:  # it ended without answering: a bug, its traceback above
        kind, value = "error", "the process choosing the models to serve ended without choosing; see the lines above"
    finally:
        if stopping:
            process.terminate()
        process.join()
        reading.close()
    if kind == "error":
        raise DigitlabError(value)
    return value


def _choose(models: str | None, answer) -> None:
    """The chooser process (`_chosen`): resolve's folders, or its DigitlabError's words, sent on `answer`."""
    from digitlab.errors import DigitlabError, warn_on_one_line

    warn_on_one_line()
    try:
        from digitlab.web.models import resolve  # torch with it: the seconds a Ctrl-C most likely comes in
        answer.send(("folders", {method: served.folder for method, served in resolve(models).items()}))
    except DigitlabError as err:
        answer.send(("error", str(err)))
    except KeyboardInterrupt:  # Ctrl-C reached the whole group: the parent says so
        pass


def _worker(folders: dict, host: str, port: int, hosts: frozenset[str], parent: int, ready) -> None:
    """One server process: listens on the shared port, loads the models in `folders` ({method:
    folder}) and serves. Connections that arrive while the models load wait in its queue."""
    import os
    import signal
    import threading
    import time

    from digitlab.web.models import load

    def watch_parent() -> None:  # a parent killed outright cannot stop its workers: they stop themselves
        while os.getppid() == parent:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch_parent, name="digitlab-parent-watch", daemon=True).start()
    sock = _listen(host, port, shared=True)
    # `ready` is set once the app can answer (models loaded, warmed up), so the server says "open"
    # only then; connections that come sooner wait in the socket's queue.
    _server(_app(load(folders), decoders=DECODERS_EACH, ready=ready.set), host, port, hosts).run(sockets=[sock])


def _start(folders: dict, host: str, port: int, hosts: frozenset[str], workers: int) -> list:
    """`workers` server processes, returned once each listens on the port and can answer."""
    import multiprocessing
    import os

    from digitlab.errors import DigitlabError

    context = multiprocessing.get_context("spawn")  # a fresh interpreter each: torch's threads do not survive fork
    started, readiness = [], []
    for k in range(workers):  # all started at once: each loads its models while the others do
        ready = context.Event()
        process = context.Process(target=_worker, args=(folders, host, port, hosts, os.getpid(), ready),
                                  name=f"digitlab-serve-{k + 1}")
        process.start()
        started.append(process)
        readiness.append(ready)
    for k, (process, ready) in enumerate(zip(started, readiness)):
        while not ready.wait(0.1):
            if not process.is_alive():
                _stop(started)
                raise DigitlabError(f"--workers {workers}: server process {k + 1} stopped before it could "
                                    f"answer on port {port} (exit status {process.exitcode})")
    return started


def _stop(processes: list) -> None:
    """SIGTERM to each (uvicorn finishes the answers under way), SIGKILL to any still there after STOP_SECONDS."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()


def _supervise(processes: list, stopping: list) -> int:
    """Wait on the worker processes. Ctrl-C or SIGTERM stops them all; so does any one's end, with
    exit status 1 (half a server answering slowly is worse than a stopped one, which a service
    manager restarts). `stopping` gains an entry when SIGTERM comes (run's handler)."""
    import multiprocessing.connection
    import signal

    from digitlab.errors import warn

    try:
        while not stopping and all(process.is_alive() for process in processes):
            multiprocessing.connection.wait([process.sentinel for process in processes], timeout=0.5)
    except KeyboardInterrupt:  # Ctrl-C reached the workers too: each stops on its own
        stopping.append(True)
    finally:
        _stop(processes)
    if not stopping:
        ended = [str(p.exitcode) for p in processes if p.exitcode not in (0, -signal.SIGTERM, -signal.SIGINT)]
        warn(f"a server process stopped (exit status {', '.join(ended) or 0}); the others were stopped with it")
        return 1
    return 0
