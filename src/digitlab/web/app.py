"""The demo server: one page to draw a digit or a number on, and a JSON API that runs every loaded
model on it.

Nothing a visitor sends is trusted or kept. A request body is read up to MAX_UPLOAD_BYTES, decoded
within the limits every image has (vision/decoding.py: its formats, refused from its header when its
pixels would pass the budget), split into its digits, each MNIST's 28 x 28 (numbers.find:
reading.find_digits; one digit is exactly `mnist_style.to_mnist`'s), answered, and dropped.

Where a request's time and memory go: the event loop reads bodies and answers the cheap routes
itself; `decoders` threads (DECODES_AT_ONCE unless told) decode, clean and split images (the costly
part, and the only one that needs much memory); one inference thread (batching.Batcher) runs every
model once on all the digits waiting. Measured figures: benchmarks/RESULTS.md, the web server.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib import resources

import torch
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect

from digitlab import __version__, service
from digitlab.errors import DataError, NotAnImage
from digitlab.explain import explanations
from digitlab.trust import decline
from digitlab.vision import mnist_style
from digitlab.web import numbers
from digitlab.web.batching import Batcher
from digitlab.web.models import Served

MAX_UPLOAD_BYTES = 2 * 1024 * 1024  # the page scales photos down before sending; a phone's JPEG as is fits too
DRAIN_BYTES = 8 * MAX_UPLOAD_BYTES  # an oversized body is read and dropped up to this (see read_body)
DECODES_AT_ONCE = 2  # threads decoding: one per core; a 4096 x 4096 PNG takes ~70 MB while it decodes
# (one process's threads share one interpreter lock: with a server process per core, one thread each
# answered as many requests with fewer stalls of the event loop; benchmarks/RESULTS.md, the web server)
UPLOADS_AT_ONCE = 32  # bodies held in memory at once (each up to MAX_UPLOAD_BYTES); the rest wait unread
STATIC = resources.files("digitlab.web") / "static"
HEADERS = {
    # The page loads nothing from elsewhere; the 28 x 28 image arrives as a data: URL.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _refuse(status: int, message: str, close: bool = False) -> HTTPException:
    return HTTPException(status_code=status, detail=message, headers={"Connection": "close"} if close else None)


async def read_body(request: Request) -> bytes:
    """The request body, refusing (413) one over MAX_UPLOAD_BYTES by its header or by what arrives.

    An oversized body up to DRAIN_BYTES is still read to its end, and dropped: answering while the
    client is still sending would close the socket under it, and it would see a reset, not the 413.
    """
    declared = request.headers.get("content-length")
    declared = int(declared) if declared is not None and declared.isdigit() else None
    limit = f"over the {MAX_UPLOAD_BYTES:,}-byte limit; send a smaller PNG or JPEG"
    if declared is not None and declared > DRAIN_BYTES:
        raise _refuse(413, f"upload of {declared:,} bytes is {limit}", close=True)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)  # a client may send more than it declared, or declare nothing
            if size > DRAIN_BYTES:
                raise _refuse(413, f"upload is {limit}", close=True)
            if size <= MAX_UPLOAD_BYTES:
                chunks.append(chunk)
    except ClientDisconnect:  # gone (or closed by the guard for sending too slowly): nobody hears this
        raise _refuse(400, "the client closed the connection before its upload arrived", close=True) from None
    if size > MAX_UPLOAD_BYTES or (declared or 0) > MAX_UPLOAD_BYTES:
        raise _refuse(413, f"upload of {max(size, declared or 0):,} bytes is {limit}")
    return b"".join(chunks)


async def image_bytes(request: Request) -> bytes:
    """The image a request carries: the raw body, or the first file of a multipart form."""
    body = await read_body(request)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return body

    async def replay() -> dict:  # the form parser reads the body again, from the bytes already checked
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=10)
    except Exception as err:  # whatever the form parser makes of a visitor's bytes, it is their mistake
        raise _refuse(400, f"malformed multipart form ({getattr(err, 'detail', err)}); "
                      "send the image as a file field") from None
    try:
        upload = next((v for v in form.values() if isinstance(v, UploadFile)), None)
        if upload is None:
            raise _refuse(400, "the multipart form holds no file; send the image as a file field")
        return await upload.read()
    finally:
        await form.close()


def decode(body: bytes, read=mnist_style.to_mnist):
    """Image bytes -> `read(body, name)`'s (to_mnist's (28, 28) float32 in [0, 1] unless told); an
    HTTPException for anything unusable."""
    if not body:
        raise _refuse(400, "empty request body; send a PNG or JPEG of a digit or a number")
    try:
        return read(body, "upload")  # decoded as predict decodes a file
    except NotAnImage as err:
        raise _refuse(415, str(err)) from None
    except DataError as err:  # damaged, too large, no digit
        raise _refuse(400, str(err)) from None


def predict(models: dict[str, Served], batch: torch.Tensor) -> list[list[dict]]:
    """(B, 28, 28) images -> for each, every model's label and probabilities, in METHODS order; a
    declined answer has "label": null and "declined": its reason (decline.py), and a model of fewer
    than ten digits a "note" naming them."""
    per_image: list[list[dict]] = [[] for _ in range(len(batch))]
    with torch.no_grad():  # nothing here trains: no autograd graph is kept
        screened = decline.screen(batch)  # blank, not a digit, several digits: the same for every model
        for served in models.values():
            said = service.predict(served.clf, batch, served.method)  # proba (B, K): one call for the whole batch
            why = decline.reasons(batch, said.proba, served.method, screened=screened)
            for answers, proba, digit, declined in zip(per_image, said.proba.tolist(), said.digits, why):
                answers.append({
                    "method": served.method,
                    "label": None if declined else digit,
                    "declined": declined,
                    "classes": said.classes,
                    "probabilities": [round(p, 6) for p in proba],
                    **({"note": decline.note(said.classes)} if decline.note(said.classes) else {}),
                })
    return per_image


def explained(served: Served, image: torch.Tensor) -> dict:
    """One model's explanation of its answer for a (28, 28) image: explanations.to_json's maps, and each
    map drawn as a PNG (red for the answer, blue against) for the page's "why?" view."""
    e = explanations.explain(served.clf, image)
    pictures = {name: _png(explanations.heat(m)) for name, m in e.maps.items()}
    return {**explanations.to_json(e), "pictures": pictures}


def _png(picture: Image.Image) -> str:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def describe(served: Served) -> dict:
    """What GET /api/models says about one model: its task, settings and last recorded accuracy."""
    clf = served.clf
    history = clf.history_
    settings = dataclasses.asdict(clf.config)  # the hyperparameters, as the checkpoint stores them
    return {
        "method": served.method,
        "classes": clf.classes_.tolist(),
        "folder": served.folder.name,  # the name only: the server's own paths are not the visitor's business
        "config": settings,
        "epochs": len(history),
        "accuracy": history[-1].get("accuracy") if history else None,
    }


class SecurityHeaders:
    """Adds HEADERS to every response; a plain ASGI wrapper (FastAPI's @middleware costs ~0.3 ms a request)."""

    def __init__(self, app):
        self.app = app
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in HEADERS.items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *self.headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(models: dict[str, Served], decoders: int = DECODES_AT_ONCE, ready=None) -> FastAPI:
    """The FastAPI app answering with `models` ({method: Served}, in the order the page shows them),
    decoding uploads on `decoders` threads; `ready()`, when given, is called once it can answer."""
    described = {"models": [describe(served) for served in models.values()]}  # fixed while the server runs
    health = {"status": "ok", "models": len(models), "version": __version__}
    workers: dict = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Made here, in the server's loop, and closed when it stops: nothing runs at import or build time.
        workers["decoders"] = ThreadPoolExecutor(decoders, thread_name_prefix="digitlab-decode")
        workers["batcher"] = Batcher(lambda batch: predict(models, batch))
        workers["uploads"] = asyncio.Semaphore(UPLOADS_AT_ONCE)
        # "why?" asks run on a thread of their own, one at a time: the live answers never wait behind them
        workers["explainer"] = ThreadPoolExecutor(1, thread_name_prefix="digitlab-explain")
        await asyncio.get_running_loop().run_in_executor(workers["decoders"], numbers.warm_up)
        if "cnn" in models:
            # Before the first request, not beside it: Captum's import and a first explanation (about half
            # a second) run while nothing waits, so neither the first "why?" nor the first live answers
            # share the cores with them.
            await asyncio.get_running_loop().run_in_executor(workers["explainer"], explanations.warm_up, models["cnn"].clf)
        if ready is not None:
            ready()
        try:
            yield
        finally:
            workers.pop("batcher").close()
            workers.pop("decoders").shutdown(wait=True, cancel_futures=True)
            workers.pop("explainer").shutdown(wait=True, cancel_futures=True)

    def prepare(body: bytes) -> tuple[numbers.Found, str]:
        found = decode(body, numbers.find)
        return found, numbers.seen(found)

    app = FastAPI(title="digitlab", version=__version__, docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.add_middleware(SecurityHeaders)

    # The cheap routes are `async def`: answered in the event loop, never queued behind predictions.
    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(str(STATIC / "favicon.svg"), media_type="image/svg+xml")

    @app.get("/healthz")
    async def healthz() -> dict:
        return health

    @app.get("/api/models")
    async def list_models() -> dict:
        return described

    @app.post("/api/predict")
    async def predict_route(request: Request) -> JSONResponse:
        loop = asyncio.get_running_loop()
        async with workers["uploads"]:
            body = await image_bytes(request)
            start = time.perf_counter()
            found, seen = await loop.run_in_executor(workers["decoders"], prepare, body)
            del body
        said = await workers["batcher"].predict(found.images)  # each digit's answers, every model's
        seconds = time.perf_counter() - start
        return JSONResponse({"image": seen, **numbers.answer(found, said), "seconds": round(seconds, 4)})

    @app.post("/api/explain")
    async def explain_route(request: Request, method: str) -> JSONResponse:
        if method not in models:
            raise _refuse(404, f"no {method!r} model is served; ask for one of {', '.join(models)}")
        loop = asyncio.get_running_loop()
        async with workers["uploads"]:
            body = await image_bytes(request)
            start = time.perf_counter()
            image = await loop.run_in_executor(workers["decoders"], decode, body)
            del body
        why = await loop.run_in_executor(workers["explainer"], explained, models[method], image)
        return JSONResponse({**why, "seconds": round(time.perf_counter() - start, 4)})

    return app
