"""Time to explain one answer, per method, with the models that ship in the package (issue 23's
targets: all four explanations of one image in <= 100 ms on 2 CPU cores; the web page's "why?"
within 200 ms).

    python benchmarks/explain_latency.py [--images 20] [--threads 2]

Each method explains --images test digits after one warm-up; the figure is the median per image,
with the cnn's integrated-gradients steps (they double until the attributions add up within 1 %).
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=20, help="test digits explained (default: 20)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2, the target's cores)")
    args = parser.parse_args()

    import torch

    from digitlab import data, explain, pretrained

    torch.set_num_threads(args.threads)
    digits = data.load("mnist", "test").images[: args.images]
    totals = [0.0] * len(digits)
    for method in ("pixel", "linear", "simple_net", "cnn"):
        clf = pretrained.load(method)
        explain.explain(clf, digits[0])  # warm-up
        times, steps = [], []
        for i, image in enumerate(digits):
            start = time.perf_counter()
            e = explain.explain(clf, image)
            times.append(time.perf_counter() - start)
            totals[i] += times[-1]
            steps.append(e.notes.get("ig_steps", 0))
        extra = f"  (IG steps: median {statistics.median(steps):.0f}, max {max(steps)})" if method == "cnn" else ""
        print(f"{method:>10}: median {1000 * statistics.median(times):6.1f} ms, max {1000 * max(times):6.1f} ms{extra}")
    print(f"{'all four':>10}: median {1000 * statistics.median(totals):6.1f} ms, max {1000 * max(totals):6.1f} ms")
    web_why(digits, args.images)


def web_why(digits, n: int) -> None:
    """The page's "why?": POST /api/explain with a PNG, the whole request, per method."""
    import io

    from PIL import Image
    from starlette.testclient import TestClient

    from digitlab.web import models as web_models
    from digitlab.web.app import create_app

    served = {m: s for m, s in web_models.resolve(None).items()}
    bodies = []
    for image in digits[:n]:
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
            print(f"web why? {method:>10}: median {1000 * statistics.median(times):6.1f} ms, "
                  f"max {1000 * max(times):6.1f} ms")


if __name__ == "__main__":
    main()
