"""Time to explain one answer, per method, with the models that ship in the package (issue 23's
targets: all four explanations of one image in <= 100 ms on 2 CPU cores; the web page's "why?"
within 200 ms).

    python benchmarks/explain_latency.py [--images 100] [--threads 2]

Each method explains --images test digits after one warm-up: median, p95 and max per image, wall
and CPU time (all threads: on a busy machine the wall time waits for others' jobs, the CPU time
much less), and the gradients integrated gradients took. On a shared machine the load changes from second to
second, so the cnn's explanation is timed image by image beside the one it replaced (Captum's
Gauss-Legendre steps doubling from 64 until the attributions add up within 1 %, five separate
passes for the test-time shifts): the ratio of the two holds when the absolute figures do not.
Then the page's "why?": the first one after the server starts, and the rest.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import digitlab  # first: it sets OpenMP's threads to sleep, not spin, before torch loads OpenMP  # noqa: F401


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100, help="test digits explained (default: 100)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2, the target's cores)")
    parser.add_argument("--first-why", action="store_true", help=argparse.SUPPRESS)  # the child below
    args = parser.parse_args()
    if args.first_why:
        return first_why()

    import torch

    from digitlab import pretrained
    from digitlab.data import datasets
    from digitlab.explain import explanations

    torch.set_num_threads(args.threads)
    print(f"load average at the start: {_load()}")
    digits = datasets.load("mnist", "test").images[: args.images]
    totals, cpu_totals = [0.0] * len(digits), [0.0] * len(digits)  # wall and CPU seconds per image
    for method in ("pixel", "linear", "simple_net", "cnn"):
        clf = pretrained.load(method)
        explanations.explain(clf, digits[0])  # warm-up
        times, cpu, before, before_cpu, gradients = [], [], [], [], []
        for i, image in enumerate(digits):
            e = _timed(times, cpu, explanations.explain, clf, image)
            totals[i] += times[-1]
            cpu_totals[i] += cpu[-1]
            if method == "cnn":
                gradients.append(e.notes["ig_steps"])
                _timed(before, before_cpu, before_cnn, clf, image)
        print(f"{method:>10}: {_spread(times)}; CPU {_spread(cpu)}")
        if method == "cnn":
            print(f"{'before':>10}: {_spread(before)}; CPU {_spread(before_cpu)}")
            print(f"{'':>10}  (the same images, interleaved; median ratio before/now: wall "
                  f"{statistics.median(before) / statistics.median(times):.1f}x, CPU "
                  f"{statistics.median(before_cpu) / statistics.median(cpu):.1f}x)")
            print(f"{'':>10}  integrated gradients took {_spread(gradients, unit='')} gradients")
    print(f"{'all four':>10}: {_spread(totals)}; CPU {_spread(cpu_totals)}")
    web_why(digits)
    first = subprocess.run([sys.executable, __file__, "--first-why"], check=True, capture_output=True, text=True)
    print(first.stdout.strip())
    print(f"load average at the end: {_load()}")


def before_cnn(clf, image) -> None:
    """The cnn's explanation as it was first built (for the ratio): integrated gradients through
    the model as it stands, the shifts one pass each, doubling Captum's steps from 64; occlusion."""
    import torch
    from captum.attr import IntegratedGradients, Occlusion

    model = clf.model_.eval()
    x = clf._images(image[None]).reshape(1, 1, 28, 28)
    with torch.no_grad():
        target = model(x)[0].argmax().item()
        change = (model(x) - model(torch.zeros_like(x)))[0, target].item()
    steps = 64
    while True:
        a = IntegratedGradients(model).attribute(x, torch.zeros_like(x), target=target, n_steps=steps,
                                                 internal_batch_size=steps)
        if abs(a.sum().item() - change) <= 0.01 * max(abs(change), 1e-3) or steps >= 512:
            break
        steps *= 2
    with torch.no_grad():
        Occlusion(model).attribute(x, sliding_window_shapes=(1, 4, 4), strides=(1, 4, 4), baselines=0.0,
                                   target=target, perturbations_per_eval=64)


def web_why(digits) -> None:
    """The page's "why?": POST /api/explain with a PNG, the whole request, per method."""
    import io

    from PIL import Image
    from starlette.testclient import TestClient

    from digitlab.web import models as web_models
    from digitlab.web.app import create_app

    served = web_models.resolve(None)
    bodies = []
    for image in digits:
        buffer = io.BytesIO()
        Image.fromarray(255 - image.numpy()).resize((140, 140)).save(buffer, format="PNG")
        bodies.append(buffer.getvalue())
    with TestClient(create_app(served)) as client:
        for method in served:
            client.post(f"/api/explain?method={method}", content=bodies[0])  # warm-up
            times = []
            for body in bodies:
                start = time.perf_counter()
                client.post(f"/api/explain?method={method}", content=body).raise_for_status()
                times.append(time.perf_counter() - start)
            print(f"web why? {method:>10}: {_spread(times)}")


def first_why(wait: float = 2.0) -> None:
    """In a fresh process: the cnn's first "why?", `wait` s after the server starts (a person draws
    first), and what importing Captum costs a fresh process."""
    import io

    from PIL import Image
    from starlette.testclient import TestClient

    from digitlab.data import datasets
    from digitlab.web import models as web_models
    from digitlab.web.app import create_app

    image = datasets.load("mnist", "test").images[0]
    buffer = io.BytesIO()
    Image.fromarray(255 - image.numpy()).resize((140, 140)).save(buffer, format="PNG")
    with TestClient(create_app(web_models.resolve(None))) as client:
        time.sleep(wait)
        start = time.perf_counter()
        client.post("/api/explain?method=cnn", content=buffer.getvalue()).raise_for_status()
        seconds = time.perf_counter() - start
    print(f"web why? the first cnn, {wait:.0f} s after the server starts: {1000 * seconds:.0f} ms")
    timer = "import torch, time; t = time.perf_counter(); import captum.attr; print(time.perf_counter() - t)"
    seconds = float(subprocess.run([sys.executable, "-c", timer], check=True, capture_output=True, text=True).stdout)
    print(f"Captum's import, which the server's warm-up takes off the first \"why?\": {1000 * seconds:.0f} ms")


def _timed(wall: list, cpu: list, f, *args):
    """f(*args), its wall time and its CPU time (all threads) appended to `wall` and `cpu`."""
    start, start_cpu = time.perf_counter(), time.process_time()
    out = f(*args)
    wall.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
    return out


def _spread(values: list[float], unit: str = "ms") -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    scale = 1000 if unit == "ms" else 1
    return (f"median {scale * statistics.median(ordered):6.1f}{unit}, p95 {scale * p95:6.1f}{unit}, "
            f"max {scale * ordered[-1]:6.1f}{unit}")


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    main()
