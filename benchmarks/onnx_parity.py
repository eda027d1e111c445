"""ONNX Runtime against torch: the same answers on MNIST's 10,000 test digits, and the speed of each.

    python benchmarks/onnx_parity.py [--threads 1] [--single 1000] [--no-binary]

Each shipped model (src/digitlab/pretrained/) is copied out and exported (`export_onnx`); torch's
answer is digitlab's own, `predict_proba`, and ONNX Runtime runs the file under its contract
(pixels / 255 as (N, 1, 28, 28)). Printed per method: how many of the 10,000 digits get the same
answer, the largest |difference| of any probability, and images a second through each, in batches
of 1,000 (all 10,000 digits) and one at a time (the first --single digits), with ONNX Runtime's
speed over torch's. Both run on --threads threads. Then 3-vs-7 models of every method, trained
here briefly on MNIST's training 3s and 7s below the held-out digits and calibrated on the held-out
calibration digits' 3s and 7s, checked the same way on the
test set's 2,038 3s and 7s. Last, how many test digits each step of the input cleaning changes:
the graph leaves out `boxed` and `without_pattern` (onnx/graph.py), so those two must change none.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

BATCH = 1000  # images a call in the batched timing
BINARY_OPTIONS = {"pixel": {}, "linear": {"epochs": 3}, "simple_net": {"epochs": 3},
                  "cnn": {"epochs": 1}}  # a short training: the check is the export's, not the model's


def images_per_second(answer, images, batch: int) -> float:
    """How many images `answer` takes a second, called on `batch` images at a time (after one warm-up)."""
    answer(images[:batch])
    started = time.perf_counter()
    for i in range(0, len(images), batch):
        answer(images[i:i + batch])
    return len(images) / (time.perf_counter() - started)


def runners(folder: Path, path: Path, threads: int):
    """(torch's probabilities, ONNX Runtime's) as functions of (n, 28, 28) uint8 images -> (n, C) floats."""
    import onnxruntime as ort
    import torch

    from digitlab import service

    clf = service.load(folder)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def by_torch(images):
        return clf.predict_proba(images).float()

    def by_onnx(images):
        pixels = (images.float() / 255).numpy()[:, None]  # (n, 1, 28, 28) float32
        return torch.from_numpy(session.run(["probabilities"], {"pixels": pixels})[0])

    return by_torch, by_onnx


def agreement(by_torch, by_onnx, images) -> tuple[int, float]:
    """(images given the same answer, largest |difference| of any probability), in batches of BATCH."""
    import torch

    t = torch.cat([by_torch(images[i:i + BATCH]) for i in range(0, len(images), BATCH)])
    o = torch.cat([by_onnx(images[i:i + BATCH]) for i in range(0, len(images), BATCH)])
    return int((t.argmax(1) == o.argmax(1)).sum()), float((t - o).abs().max())


def exported(folder: Path) -> tuple[Path, float]:
    from digitlab.onnx import export_onnx

    started = time.perf_counter()
    path = export_onnx(folder)
    return path, time.perf_counter() - started


def shipped_table(root: Path, test, args) -> None:
    from digitlab import classifiers, pretrained

    print(f"\nshipped models, {len(test.images):,} MNIST test digits; speeds in images/s, {args.threads} thread(s); "
          f"batch 1 over the first {args.single:,}")
    print(f"{'method':<11} {'export s':>8} {'same':>11} {'max |dp|':>9} {'torch b1000':>11} {'ort b1000':>10} "
          f"{'ratio':>6} {'torch b1':>9} {'ort b1':>8} {'ratio':>6} {'file KB':>8}")
    for method in classifiers.METHODS:
        folder = root / method
        shutil.copytree(pretrained.path(method), folder)
        path, seconds = exported(folder)
        by_torch, by_onnx = runners(folder, path, args.threads)
        same, worst = agreement(by_torch, by_onnx, test.images)
        torch_b, onnx_b = (images_per_second(f, test.images, BATCH) for f in (by_torch, by_onnx))
        single = test.images[:args.single]
        torch_1, onnx_1 = (images_per_second(f, single, 1) for f in (by_torch, by_onnx))
        print(f"{method:<11} {seconds:>8.1f} {same:>5,}/{len(test.images):,} {worst:>9.1e} {torch_b:>11,.0f} "
              f"{onnx_b:>10,.0f} {onnx_b / torch_b:>5.2f}x {torch_1:>9,.0f} {onnx_1:>8,.0f} {onnx_1 / torch_1:>5.2f}x "
              f"{path.stat().st_size / 1024:>8,.0f}", flush=True)


def binary_table(root: Path, test) -> None:
    import torch

    from digitlab import classifiers
    from digitlab.data import datasets, heldout

    train = datasets.load("mnist", "train")
    fit = (train.index < heldout.START) & torch.isin(train.labels, torch.tensor([3, 7]))
    calibration = torch.isin(train.index, torch.tensor(heldout.CALIBRATION)) & torch.isin(train.labels, torch.tensor([3, 7]))
    wanted = torch.isin(test.labels, torch.tensor([3, 7]))
    images = test.images[wanted]
    print(f"\n3-vs-7 models ({int(fit.sum()):,} training 3s and 7s), {len(images):,} test 3s and 7s")
    print(f"{'method':<11} {'export s':>8} {'classes':>8} {'same':>11} {'max |dp|':>9} {'accuracy':>9}")
    for method in classifiers.METHODS:
        folder = root / f"{method}-3-7"
        clf = classifiers.make(method, **BINARY_OPTIONS[method])
        clf.fit(train.images[fit], train.labels[fit], progress=False)
        clf.calibrate(train.images[calibration], train.labels[calibration]).save(folder)  # a temperature, as shipped
        path, seconds = exported(folder)
        by_torch, by_onnx = runners(folder, path, 1)
        same, worst = agreement(by_torch, by_onnx, images)
        read = clf.classes_[torch.cat([by_onnx(images[i:i + BATCH]) for i in range(0, len(images), BATCH)]).argmax(1)]
        accuracy = float((read == test.labels[wanted]).float().mean())
        print(f"{method:<11} {seconds:>8.1f} {str(clf.classes_.tolist()):>8} {same:>5,}/{len(images):,} {worst:>9.1e} "
              f"{100 * accuracy:>8.2f}%", flush=True)


def cleaning_counts(test) -> None:
    """How many test digits each cleaning step changes, in the order `cleaned` runs them."""
    from digitlab.classifiers.inputs import as_images
    from digitlab.vision import input_cleaning as ic

    x = as_images(test.images)
    despeckled = ic.despeckled(x)
    ink = (despeckled - ic.grey_opening(despeckled)).clamp_min(0)  # on_black's ink, before its pattern step
    on_black = ic.on_black(despeckled)
    boxed = ic.boxed(on_black)
    steps = {"despeckled": (x, despeckled), "ink above the background": (despeckled, ink),
             "without_pattern (not in the graph)": (ink, ic.without_pattern(ink)),
             "boxed (not in the graph)": (on_black, boxed), "centred": (boxed, ic.centred(boxed))}
    print("\ntest digits each cleaning step changes:")
    for name, (before, after) in steps.items():
        print(f"  {name:<36} {int((before != after).flatten(1).any(1).sum()):>6,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="threads for torch and ONNX Runtime (default 1)")
    parser.add_argument("--single", type=int, default=1000, help="digits timed one at a time (default 1,000)")
    parser.add_argument("--no-binary", action="store_true", help="skip the 3-vs-7 models")
    args = parser.parse_args()

    import onnxruntime
    import torch

    from digitlab.data import datasets

    torch.set_num_threads(args.threads)
    test = datasets.load("mnist", "test")
    print(f"{os.cpu_count()} cores, torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as root:
        shipped_table(Path(root), test, args)
        if not args.no_binary:
            binary_table(Path(root), test)
    cleaning_counts(test)


if __name__ == "__main__":
    main()
