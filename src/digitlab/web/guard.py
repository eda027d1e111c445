"""The server's connection guard: what a connection may send, and for how long, before the app sees it.

uvicorn keeps a connection open for as long as its client likes while the request's head or body
trickles in (its keep-alive timeout starts only after a response), accepts connections until the
process runs out of file handles (1,100 slow connections did that), reads a request head of any size
(one 64 MB header was read whole and answered 200, the server 121 MB larger) and answers to any Host.
`GuardedHttpTools` is uvicorn's own httptools protocol (its C parser costs a fraction of h11's pure
Python: 0.3-0.7 ms less server CPU a request under load, benchmarks/RESULTS.md) with these rules added:

- past `max_connections` open at once, a new connection is answered 503 and closed at once;
- a request's head (its line and headers) must arrive within `head_seconds` of the connection
  opening or of the previous response, and its body within `body_seconds` of the head;
- a URL over `line_bytes` is answered 414, a header (name and value) over it or a head over `head_bytes` 431,
  counted as the bytes arrive: the connection is closed within a read or two (256 kB each) of the cap;
- a Host header that is not one of `hosts` (hosts.allowed_names) is answered 400;
- when the server stops, a client still sending its request is answered 503 and closed at once,
  rather than waited for.

The guard's own answers carry the app's security headers (headers.plain_answer). A connection that
breaks a deadline is closed; the app sees a client that went away.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from digitlab.web.headers import plain_answer
from digitlab.web.hosts import allowed_names, name_of

log = logging.getLogger("uvicorn.error")


@dataclass(frozen=True)
class Limits:
    """How much the server lets its clients hold. A connection is a file handle and a buffer."""

    max_connections: int = 256  # open at once; the 2 MB upload limit bounds each one's body
    head_seconds: float = 10.0  # a request line and headers take a few ms; a phone on a bad line, seconds
    body_seconds: float = 60.0  # a 2 MB upload at 35 kB/s: slow 3G
    keep_alive_seconds: float = 5.0  # an idle connection between requests (uvicorn's default)
    line_bytes: int = 8 * 1024  # the URL, or one header's name and value: browsers keep a cookie under 4 kB
    head_bytes: int = 64 * 1024  # the request line and all its headers together


def protocol(limits: Limits, hosts: frozenset[str] = allowed_names("127.0.0.1")) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol held to `limits`, answering to `hosts` (pass it as uvicorn.Config(http=...))."""
    return type("GuardedHttpTools", (GuardedHttpTools,), {"limits": limits, "hosts": hosts})


class GuardedHttpTools(HttpToolsProtocol):
    limits = Limits()
    hosts = allowed_names("127.0.0.1")

    # What the client is sending, from the parser's callbacks: between a message's begin and its
    # end it owes the rest of it; its head is done once the headers are.
    _in_message = False
    _head_done = False
    _refused = False  # answered by the guard: the parser's further callbacks are ignored
    _head_parsed = 0  # bytes of this head's URL and headers, as the parser hands them over
    _head_received = 0  # bytes of reads that fell wholly within this head (a header not yet ended included)
    _begun = 0  # messages begun within the read being parsed

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._answer(503, "too many connections; try again later")  # connection_lost forgets it
            return
        self._arm(self.limits.head_seconds)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        continues = self._in_message and not self._head_done  # the read goes on with a head
        starts = not self._in_message  # the read starts a message
        self._begun = 0
        super().data_received(data)
        if self._refused or self.transport.is_closing() or not (self._in_message and not self._head_done):
            return
        # A head is still arriving. The read is all its own if the head began before it or at its
        # first byte; one where an earlier message ends is left to the parsed count (at most a read).
        if (continues and self._begun == 0) or (starts and self._begun == 1):
            self._head_received += len(data)
        if self._head_received > self.limits.head_bytes:
            self._refuse(431, f"request head over {self.limits.head_bytes:,} bytes")

    def on_message_begin(self) -> None:
        if self._refused:
            return
        self._in_message, self._head_done = True, False
        self._head_parsed = self._head_received = 0
        self._begun += 1
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        if self._refused:
            return
        super().on_url(url)
        self._head_parsed += len(url)
        if len(self.url) > self.limits.line_bytes:
            self._refuse(414, f"URL over {self.limits.line_bytes:,} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refused:
            return
        field = len(name) + len(value)
        self._head_parsed += field + 3  # at least name:value CRLF
        if field > self.limits.line_bytes:
            self._refuse(431, f"header {name[:40].decode('latin-1')!r} over {self.limits.line_bytes:,} bytes")
        elif self._head_parsed > self.limits.head_bytes:
            self._refuse(431, f"request head over {self.limits.head_bytes:,} bytes")
        else:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused or self._wrong_host():
            return  # no cycle, no app task: the request never reaches the app
        self._head_done = True
        super().on_headers_complete()
        if not self.transport.is_closing():
            self._arm(self.limits.body_seconds)  # the head came in: now its body has a deadline

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._in_message = False
        super().on_message_complete()
        self._disarm()  # the whole request is in; the app has it

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm(self.limits.head_seconds)  # uvicorn's keep-alive timer runs too; this one survives data

    def shutdown(self) -> None:
        """The server is stopping: a client still sending its request is not waited for (uvicorn's
        own shutdown waited for a slow upload until its body deadline, 60 s)."""
        if self._in_message and not self._refused:
            self._answer(503, "the server is stopping; try again in a moment")
        else:
            super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _wrong_host(self) -> bool:
        """Whether the head's Host is not a name of this server's (refused 400 if so)."""
        given = [value for name, value in self.headers if name == b"host"]
        if len(given) == 1 and name_of(given[0]) in self.hosts:
            return False
        if not given:
            self._refuse(400, "the request has no Host header")
        elif len(given) > 1:
            self._refuse(400, "the request has more than one Host header")
        else:
            name = name_of(given[0])[:100]
            self._refuse(400, f"Host {name!r} is not a name of this server; "
                         f"start it with --allow-host {name} to answer to that name")
        return True

    def _refuse(self, status: int, reason: str) -> None:
        """Answer the request being parsed ourselves, and close: what is left of it is never read."""
        self._refused = True
        log.info("%s:%s refused: %s", *(self.client or ("?", 0)), reason)
        self._answer(status, reason)

    def _answer(self, status: int, reason: str) -> None:
        self._disarm()
        self.transport.write(plain_answer(status, reason))
        self.transport.close()

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
