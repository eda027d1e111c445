"""The demo server: one page to draw a digit on, and a JSON API that runs every loaded model on it.

Nothing a visitor sends is trusted or kept. A request body is read up to MAX_UPLOAD_BYTES, opened
only as PNG or JPEG, refused before decoding when it claims more than MAX_SIDE pixels a side (the
header is all PIL reads until `load`), turned into MNIST's 28 x 28 by `images.to_mnist`, answered,
and dropped. At most PREDICT_AT_ONCE requests decode at a time, which bounds the memory in use.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import threading
import time
import warnings
from importlib import resources

import torch
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image, UnidentifiedImageError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from digitlab import __version__, images
from digitlab.errors import DataError
from digitlab.web.models import Served

MAX_UPLOAD_BYTES = 2 * 1024 * 1024  # a phone photo as JPEG fits; anything larger is refused (413)
DRAIN_BYTES = 8 * MAX_UPLOAD_BYTES  # an oversized body is read and dropped up to this (see read_body)
MAX_SIDE = 4096  # px: a larger image is refused before its pixels are decoded
FORMATS = ("PNG", "JPEG")  # the only decoders PIL may try on a visitor's bytes
PREDICT_AT_ONCE = 2  # decodes at a time: a 4096 x 4096 image briefly takes ~200 MB to clean up
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
    async for chunk in request.stream():
        size += len(chunk)  # a client may send more than it declared, or declare nothing
        if size > DRAIN_BYTES:
            raise _refuse(413, f"upload is {limit}", close=True)
        if size <= MAX_UPLOAD_BYTES:
            chunks.append(chunk)
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


def decode(body: bytes) -> torch.Tensor:
    """PNG or JPEG bytes -> (28, 28) float32 in [0, 1]; an HTTPException for anything unusable."""
    if not body:
        raise _refuse(400, "empty request body; send a PNG or JPEG of one digit")
    try:
        image = Image.open(io.BytesIO(body), formats=FORMATS)  # reads the header only
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise _refuse(400, f"image refused: {err}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise _refuse(415, "not a PNG or JPEG image that can be read; send a PNG or JPEG of one digit") from None
    width, height = image.size
    if width > MAX_SIDE or height > MAX_SIDE:
        raise _refuse(400, f"image is {width} x {height} pixels, over the {MAX_SIDE} x {MAX_SIDE} limit; "
                      "send a smaller one")
    if image.format == "JPEG":
        image.draft("RGB", (512, 512))  # decode a large photo at 1/2..1/8 scale: to_mnist shrinks it anyway
    try:
        image.load()
        return images.to_mnist(image, name="upload")
    except DataError as err:
        raise _refuse(400, str(err)) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise _refuse(400, f"damaged image ({err}); send the whole PNG or JPEG") from None


def png_base64(image: torch.Tensor) -> str:
    """(28, 28) float in [0, 1] -> base64 of a greyscale PNG, for the page to show what models saw."""
    buffer = io.BytesIO()
    Image.fromarray((image * 255).round().to(torch.uint8).numpy(), mode="L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def predict(models: dict[str, Served], image: torch.Tensor) -> list[dict]:
    """Every model's label and probabilities for one (28, 28) image, in METHODS order."""
    answers = []
    with torch.no_grad():  # nothing here trains: no autograd graph is kept
        for served in models.values():
            proba = served.clf.predict_proba(image[None]).float().cpu()[0]  # (1, 28, 28) -> (K,)
            classes = served.clf.classes_.tolist()
            answers.append({
                "method": served.method,
                "label": classes[int(proba.argmax())],
                "classes": classes,
                "probabilities": [round(float(p), 6) for p in proba],
            })
    return answers


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


def create_app(models: dict[str, Served]) -> FastAPI:
    """The FastAPI app answering with `models` ({method: Served}, in the order the page shows them)."""
    # PIL refuses (DecompressionBombError) past twice this many pixels and warns past it; the warning
    # is made an error too, so a bomb never gets as far as decoding.
    Image.MAX_IMAGE_PIXELS = MAX_SIDE * MAX_SIDE
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    gate = threading.BoundedSemaphore(PREDICT_AT_ONCE)

    def answer(body: bytes) -> dict:
        with gate:
            start = time.perf_counter()
            image = decode(body)  # (28, 28)
            predictions = predict(models, image)
            seconds = time.perf_counter() - start
        return {"image": png_base64(image), "predictions": predictions, "seconds": round(seconds, 4)}

    app = FastAPI(title="digitlab", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(HEADERS)
        return response

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok", "models": len(models), "version": __version__}

    @app.get("/api/models")
    def list_models() -> dict:
        return {"models": [describe(served) for served in models.values()]}

    @app.post("/api/predict")
    async def predict_route(request: Request) -> JSONResponse:
        body = await image_bytes(request)
        return JSONResponse(await run_in_threadpool(answer, body))

    return app
