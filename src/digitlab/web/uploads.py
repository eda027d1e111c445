"""Receiving an upload: its body read up to MAX_UPLOAD_BYTES, held against a budget of bytes in memory,
and the image taken out of it (the raw body, or a multipart form's file).

The budget counts bytes as they arrive, not requests. Slots counted by request (32, each taken before
its body's first byte) let 100 clients trickling their bodies at 10 bytes a second hold every slot
until the guard's 60 s body deadline, and a real upload got no answer for 20 s. Counted in bytes, a
slow body holds only what it has sent, and the memory bound stays what it was: BODY_BUDGET_BYTES of
bodies at once, however many clients send them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import HTTPException, Request
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect

MAX_UPLOAD_BYTES = 2 * 1024 * 1024  # the page scales photos down before sending; a phone's JPEG as is fits too
DRAIN_BYTES = 8 * MAX_UPLOAD_BYTES  # an oversized body is read and dropped up to this (see read_body)
BODY_BUDGET_BYTES = 32 * MAX_UPLOAD_BYTES  # bodies held at once, from their first byte until decoded
BUDGET_WAIT_SECONDS = 10.0  # a body that finds the budget spent waits this long for room, then is refused 503


def refuse(status: int, message: str, close: bool = False) -> HTTPException:
    return HTTPException(status_code=status, detail=message, headers={"Connection": "close"} if close else None)


class BodyBudget:
    """The bytes of request bodies the server holds at once: taken as each chunk arrives, given back
    once the request is done with its body. Made in the server's event loop; used only there."""

    def __init__(self, total: int = BODY_BUDGET_BYTES):
        self.free = total
        self._freed = asyncio.Event()

    async def take(self, size: int) -> None:
        """Wait (up to BUDGET_WAIT_SECONDS) until `size` bytes are free, and take them."""
        try:
            async with asyncio.timeout(BUDGET_WAIT_SECONDS):
                while self.free < size:  # one event loop: nothing gives between this check and the wait
                    self._freed.clear()
                    await self._freed.wait()
        except TimeoutError:
            raise refuse(503, "the server is receiving too many uploads at once; try again in a moment",
                         close=True) from None
        self.free -= size

    def give(self, size: int) -> None:
        self.free += size
        self._freed.set()  # every waiter looks again; those that still do not fit wait on


@asynccontextmanager
async def held_body(request: Request, budget: BodyBudget) -> AsyncIterator[bytes]:
    """The request's body (read_body), its bytes held against `budget` until the block ends."""
    body = await read_body(request, budget)
    try:
        yield body
    finally:
        budget.give(len(body))


async def read_body(request: Request, budget: BodyBudget) -> bytes:
    """The request body, refusing (413) one over MAX_UPLOAD_BYTES by its header or by what arrives;
    each kept chunk taken from `budget` as it arrives (all given back if the body is refused).

    An oversized body up to DRAIN_BYTES is still read to its end, and dropped: answering while the
    client is still sending would close the socket under it, and it would see a reset, not the 413.
    """
    declared = request.headers.get("content-length")
    declared = int(declared) if declared is not None and declared.isdigit() else None
    limit = f"over the {MAX_UPLOAD_BYTES:,}-byte limit; send a smaller PNG or JPEG"
    if declared is not None and declared > DRAIN_BYTES:
        raise refuse(413, f"upload of {declared:,} bytes is {limit}", close=True)
    chunks, size, held = [], 0, 0
    try:
        async for chunk in request.stream():
            size += len(chunk)  # a client may send more than it declared, or declare nothing
            if size > DRAIN_BYTES:
                raise refuse(413, f"upload is {limit}", close=True)
            if size <= MAX_UPLOAD_BYTES:
                await budget.take(len(chunk))
                held += len(chunk)
                chunks.append(chunk)
        if size > MAX_UPLOAD_BYTES or (declared or 0) > MAX_UPLOAD_BYTES:
            raise refuse(413, f"upload of {max(size, declared or 0):,} bytes is {limit}")
    except ClientDisconnect:  # gone (or closed by the guard for sending too slowly): nobody hears this
        budget.give(held)
        raise refuse(400, "the client closed the connection before its upload arrived", close=True) from None
    except BaseException:
        budget.give(held)
        raise
    return b"".join(chunks)


async def image_bytes(request: Request, body: bytes) -> bytes:
    """The image in `request`'s `body`: the body itself, or the first file of a multipart form."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return body

    async def replay() -> dict:  # the form parser reads the body again, from the bytes already checked
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=10)
    except Exception as err:  # whatever the form parser makes of a visitor's bytes, it is their mistake
        raise refuse(400, f"malformed multipart form ({getattr(err, 'detail', err)}); "
                     "send the image as a file field") from None
    try:
        upload = next((v for v in form.values() if isinstance(v, UploadFile)), None)
        if upload is None:
            raise refuse(400, "the multipart form holds no file; send the image as a file field")
        return await upload.read()
    finally:
        await form.close()
