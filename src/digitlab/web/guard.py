"""The server's connection guard: a cap on open connections and deadlines for clients that send slowly.

uvicorn keeps a connection open for as long as its client likes while the request's head or body
trickles in (its keep-alive timeout starts only after a response), and it accepts connections
until the process runs out of file handles: 1,100 slow connections did that, and each failed
accept logged a traceback. `GuardedHttpTools` is uvicorn's own httptools protocol (its C parser
costs a fraction of h11's pure Python: 0.3-0.7 ms less server CPU a request under load,
benchmarks/RESULTS.md) with three rules added:

- past `max_connections` open at once, a new connection is answered 503 and closed at once;
- a request's head (its line and headers) must arrive within `head_seconds` of the connection
  opening or of the previous response;
- its body must arrive within `body_seconds` of the head.

A connection that breaks a deadline is closed; the app sees a client that went away.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

FULL = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n" \
       b"connection: close\r\ncontent-length: 38\r\n\r\ntoo many connections; try again later\n"
log = logging.getLogger("uvicorn.error")


@dataclass(frozen=True)
class Limits:
    """How much the server lets its clients hold. A connection is a file handle and a buffer."""

    max_connections: int = 256  # open at once; the 2 MB upload limit bounds each one's body
    head_seconds: float = 10.0  # a request line and headers take a few ms; a phone on a bad line, seconds
    body_seconds: float = 60.0  # a 2 MB upload at 35 kB/s: slow 3G
    keep_alive_seconds: float = 5.0  # an idle connection between requests (uvicorn's default)


def protocol(limits: Limits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol held to `limits` (pass it as uvicorn.Config(http=...))."""
    return type("GuardedHttpTools", (GuardedHttpTools,), {"limits": limits})


class GuardedHttpTools(HttpToolsProtocol):
    limits = Limits()

    # What the client is sending, from the parser's callbacks: between a message's begin and its
    # end it owes the rest of it; its head is done once the headers are.
    _in_message = False
    _head_done = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            transport.write(FULL)
            transport.close()  # connection_lost follows, and forgets this connection
            return
        self._arm(self.limits.head_seconds)

    def on_message_begin(self) -> None:
        self._in_message, self._head_done = True, False
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._head_done = True
        super().on_headers_complete()
        if not self.transport.is_closing():
            self._arm(self.limits.body_seconds)  # the head came in: now its body has a deadline

    def on_message_complete(self) -> None:
        self._in_message = False
        super().on_message_complete()
        self._disarm()  # the whole request is in; the app has it

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm(self.limits.head_seconds)  # uvicorn's keep-alive timer runs too; this one survives data

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self._in_message:
            what = "request body" if self._head_done else "request"
        elif (self.cycle is None or self.cycle.response_complete) and not self.pipeline:
            what = "request"  # idle since its last answer
        else:
            return  # the request is in and being answered: the app's time is not the client's
        log.debug("%s:%s sent its %s too slowly; connection closed", *(self.client or ("?", 0)), what)
        self.transport.close()
