"""One inference thread that answers every waiting request with one forward pass per model.

Concurrent requests each bring the (28, 28) digits of one image (one, or a number's several). Run
one at a time, every request pays each model's fixed cost per call (the cnn's is most of its 0.7 ms);
stacked, 16 images cost the four models 1.1 ms where one costs 0.4 ms (benchmarks/RESULTS.md, the web
server). So the handlers only queue their digits and await the answer; this thread takes the requests
waiting, until they hold MAX_BATCH digits, and runs each model once on the stack.

One thread, not a pool: torch's own threads already use the cores for a large batch, and a pool
of threads each calling torch grows an OpenMP team per thread (83 threads under load before).
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading

import torch

MAX_BATCH = 64  # digits per forward pass: past this a batch no longer gets cheaper per image (one
# request of more digits is run alone, whole)


class Batcher:
    """`await batcher.predict(images)` -> every model's answer for each of `images` ((n, 28, 28): one
    request's digits), a list of n, batched with other requests'.

    `predict_batch(images)` is called in the inference thread with a (B, 28, 28) tensor and returns
    a list of B answers; it runs nowhere else, so the models need no locking.
    """

    def __init__(self, predict_batch, max_batch: int = MAX_BATCH):
        self._predict_batch = predict_batch
        self._max_batch = max_batch
        self._waiting: queue.SimpleQueue = queue.SimpleQueue()  # (images, Future) pairs, or None to stop
        self._thread = threading.Thread(target=self._run, name="digitlab-inference", daemon=True)
        self._thread.start()

    async def predict(self, images: torch.Tensor) -> list:
        future = asyncio.get_running_loop().create_future()
        self._waiting.put((images, future))
        return await future

    def close(self) -> None:
        self._waiting.put(None)
        self._thread.join(timeout=10)

    def _take(self) -> list | None:
        """Block for one request, then take whatever else is already waiting, up to max_batch digits."""
        first = self._waiting.get()
        if first is None:
            return None
        batch, digits = [first], len(first[0])
        while digits < self._max_batch:
            try:
                item = self._waiting.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._waiting.put(None)  # stop after answering these
                break
            batch.append(item)
            digits += len(item[0])
        return batch

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            live = [(images, future) for images, future in batch if not future.cancelled()]  # a client gone
            if not live:
                continue
            futures = [future for _, future in live]
            try:
                each = self._predict_batch(torch.cat([images for images, _ in live]))  # (B, 28, 28)
                ends = list(itertools.accumulate(len(images) for images, _ in live))
                answers = [each[end - len(images):end] for (images, _), end in zip(live, ends)]
            except BaseException as err:  # a bug in a model: every request of the batch hears of it
                answers, failed = [None] * len(live), err
            else:
                failed = None
            # One wake-up of the server's loop for the whole batch, not one per request: each is a
            # write to the loop's wake-up pipe (9 % of a loaded server's samples when it was one each).
            futures[0].get_loop().call_soon_threadsafe(_deliver, futures, answers, failed)


def _deliver(futures: list[asyncio.Future], answers: list, failed: BaseException | None) -> None:
    """In the server's loop: each waiting request's answer (or the batch's error)."""
    for future, answer in zip(futures, answers):
        if future.done():  # cancelled meanwhile: its client has gone
            continue
        if failed is None:
            future.set_result(answer)
        else:
            future.set_exception(failed)
