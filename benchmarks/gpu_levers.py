"""The GPU levers, one at a time, on the fast preset's GPU form: seconds of training and accuracy.

    PYTHONPATH=src python benchmarks/gpu_levers.py [--seeds 3] [--skip-compile]

Each lever is the shipped recipe with one thing changed: plain NCHW memory instead of channels-last,
float32 instead of bfloat16 autocast, cuDNN's benchmark mode, no CUDA graph, and torch.compile.
The first two are switched by swapping torch's own attributes for the length of the run
(`torch.channels_last`, `torch.autocast`), because the recipe reads them at each call and offers no
option for what it would never ship. A short untimed fit first pays the process's CUDA start-up.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import time

from time_to_accuracy import cuda_start_up, describe_machine


@contextlib.contextmanager
def swapped(owner, name: str, value):
    """`owner.name` is `value` inside the block, and what it was after."""
    old = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="runs per lever, seeds 0..N-1 (default: 3)")
    parser.add_argument("--skip-compile", action="store_true", help="leave out torch.compile (tens of seconds)")
    args = parser.parse_args()

    import torch

    from digitlab.classifiers.cnn import presets, network, training
    from digitlab.data import datasets
    from digitlab.train import devices

    device = devices.resolve_device("cuda")
    train, test = datasets.load("mnist", "train"), datasets.load("mnist", "test")
    config = presets.preset("fast", device)

    def run(seed: int, cuda_graph: bool = True, model=None) -> list[dict]:
        cfg = dataclasses.replace(config, seed=seed)
        torch.manual_seed(seed)
        model = network.build(cfg, 10) if model is None else model
        return training.fit(model, cfg, train.images, train.labels, valid=(test.images, test.labels),
                          device=device, progress=False, cuda_graph=cuda_graph)

    print(describe_machine("cuda"), flush=True)
    print(f"CUDA start-up: {cuda_start_up('cuda'):.2f} s (not in the figures below)", flush=True)
    plain_autocast = torch.autocast
    levers = {
        "as shipped (channels-last, bf16, graph)": (contextlib.nullcontext, True),
        "NCHW memory": (lambda: swapped(torch, "channels_last", torch.contiguous_format), True),
        "float32 (autocast off)": (lambda: swapped(torch, "autocast",
                                                   lambda *a, **k: plain_autocast(*a, **{**k, "enabled": False})), True),
        "cudnn.benchmark on": (lambda: swapped(torch.backends.cudnn, "benchmark", True), True),
        "no CUDA graph": (contextlib.nullcontext, False),
        "NCHW memory, no CUDA graph": (lambda: swapped(torch, "channels_last", torch.contiguous_format), False),
    }
    print(f"{'lever':<40} {'s of training':>24} {'accuracy':>10}")
    for name, (context, graph) in levers.items():
        with context():
            runs = [run(seed, graph) for seed in range(args.seeds)]
        seconds = ", ".join(f"{sum(r['seconds'] for r in rows):.3f}" for rows in runs)
        accuracy = statistics.mean(rows[-1]["accuracy"] for rows in runs)
        print(f"{name:<40} {seconds:>24} {100 * accuracy:>9.2f} %", flush=True)
    if not args.skip_compile:
        torch.manual_seed(0)
        started = time.perf_counter()
        rows = run(0, cuda_graph=False, model=torch.compile(network.build(config, 10)))
        print("torch.compile, no graph: epochs " + ", ".join(f"{r['seconds']:.2f} s" for r in rows)
              + f"; {100 * rows[-1]['accuracy']:.2f} %; the whole fit with compiling and scoring "
              f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
