"""The demo server: one page to draw a digit or a number on, and a JSON API that runs every loaded
model on it.

Nothing a visitor sends is trusted or kept. A request body is read up to MAX_UPLOAD_BYTES (uploads.py),
decoded within the limits every image has (vision/decoding.py: its formats, refused from its header
when its pixels would pass the budget), split into its digits, each MNIST's 28 x 28 (numbers.find:
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
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib import resources

import torch
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from digitlab import __version__, service
from digitlab.errors import DataError, NotAnImage
from digitlab.explain import explanations, pictures
from digitlab.trust import decline
from digitlab.vision import mnist_style
from digitlab.web import numbers
from digitlab.web.batching import Batcher
from digitlab.web.headers import SecurityHeaders
from digitlab.web.models import Served, accuracy as models_accuracy
from digitlab.web.uploads import BodyBudget, held_body, image_bytes, refuse

DECODES_AT_ONCE = 2  # threads decoding: one per core; a 4096 x 4096 PNG takes ~70 MB while it decodes
# (one process's threads share one interpreter lock: with a server process per core, one thread each
# answered as many requests with fewer stalls of the event loop; benchmarks/RESULTS.md, the web server)
STATIC = resources.files("digitlab.web") / "static"


def decode(body: bytes, read=mnist_style.to_mnist):
    """Image bytes -> `read(body, name)`'s (to_mnist's (28, 28) float32 in [0, 1] unless told); an
    HTTPException for anything unusable."""
    if not body:
        raise refuse(400, "empty request body; send a PNG or JPEG of a digit or a number")
    try:
        return read(body, "upload")  # decoded as predict decodes a file
    except NotAnImage as err:
        raise refuse(415, str(err)) from None
    except DataError as err:  # damaged, too large, no digit
        raise refuse(400, str(err)) from None


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
    """One model's explanation of its answer for a (28, 28) image for the page's "why?" view:
    explanations.to_json's maps and words (the scores said with the bars' probabilities, each map's
    caption and colour key), and each map drawn as a 224 x 224 PNG (pictures.picture)."""
    e = explanations.explain(served.clf, image)
    with torch.no_grad():
        said = service.predict(served.clf, image[None], served.method)  # the card's probabilities, as /api/predict gave them
    probabilities = dict(zip(said.classes, said.proba[0].tolist()))
    shown = {key: base64.b64encode(pictures.png(pictures.picture(e, key))).decode("ascii") for key in e.maps}
    return {**explanations.to_json(e, probabilities), "pictures": shown}


def describe(served: Served) -> dict:
    """What GET /api/models says about one model: its task, settings, and its test accuracy with the
    digits it was measured on (web/models.py's `accuracy`: one figure, the one evaluate and the report give)."""
    clf = served.clf
    history = clf.history_
    settings = dataclasses.asdict(clf.config)  # the hyperparameters, as the checkpoint stores them
    accuracy, measured_on = models_accuracy(served)
    return {
        "method": served.method,
        "classes": clf.classes_.tolist(),
        "folder": served.folder.name,  # the name only: the server's own paths are not the visitor's business
        "config": settings,
        "epochs": len(history),
        "accuracy": accuracy,
        "accuracy_on": measured_on,
    }


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
        workers["bodies"] = BodyBudget()  # bytes of upload bodies in memory at once (uploads.py)
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
        async with held_body(request, workers["bodies"]) as body:
            start = time.perf_counter()
            image = await image_bytes(request, body)
            found, seen = await loop.run_in_executor(workers["decoders"], prepare, image)
            del image  # a multipart form's copy; the body itself goes as the block ends
        said = await workers["batcher"].predict(found.images)  # each digit's answers, every model's
        seconds = time.perf_counter() - start
        return JSONResponse({"image": seen, **numbers.answer(found, said), "seconds": round(seconds, 4)})

    @app.post("/api/explain")
    async def explain_route(request: Request, method: str) -> JSONResponse:
        if method not in models:
            raise refuse(404, f"no {method!r} model is served; ask for one of {', '.join(models)}")
        loop = asyncio.get_running_loop()
        async with held_body(request, workers["bodies"]) as body:
            start = time.perf_counter()
            image = await loop.run_in_executor(workers["decoders"], decode, await image_bytes(request, body))
        why = await loop.run_in_executor(workers["explainer"], explained, models[method], image)
        return JSONResponse({**why, "seconds": round(time.perf_counter() - start, 4)})

    return app
