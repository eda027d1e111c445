"""What one training step of the cnn recipe costs at each batch size, on CPU or GPU.

    python benchmarks/step_cost.py [--device cpu|cuda|auto] [--preset fast] [--batches 4,128,512] [--steps 40]

The question it answers: is a step paid for by its arithmetic (the cost grows with the batch, as on
a CPU) or by its kernel launches (the cost stays flat, as expected of these small nets on a GPU)?
On an H100 plain steps are the second kind (3.2 ms whatever the batch); steps replayed from a CUDA
graph (the default there; --no-graph turns it off) cost 0.4-0.7 ms, growing a little with the batch.

For each batch size, `training.fit` trains the preset's net (its form for the device) for two epochs
of --steps steps on the first batch x steps training images, without scoring. The figure is the
second epoch's training seconds over its steps: the first also pays for start-up (lazy kernel
loading, cuDNN's choices, the allocator's first blocks). The last column is that cost times the
preset's own steps: what its whole training would take if every step cost the same.
"""

from __future__ import annotations

import argparse
import dataclasses

from time_to_accuracy import describe_machine


def step_seconds(config, images, labels, batch_size: int, steps: int, device, cuda_graph: bool = True) -> float:
    """Seconds a warm training step takes: the second of two epochs of `steps` steps, over its steps."""
    import torch

    from digitlab.classifiers.cnn import network, training

    config = dataclasses.replace(config, epochs=2, batch_size=batch_size)
    n = batch_size * steps
    torch.manual_seed(0)
    model = network.build(config, 10)
    history = training.fit(model, config, images[:n], labels[:n], device=device, progress=False, cuda_graph=cuda_graph)
    return history[1]["seconds"] / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default: auto)")
    parser.add_argument("--preset", default="fast", help="fast (default), medium or best")
    parser.add_argument("--batches", default="4,128,512", help="batch sizes, comma-separated (default: 4,128,512)")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per batch size (default: 40)")
    parser.add_argument("--no-graph", action="store_true", help="on CUDA, plain steps rather than a CUDA graph's replays")
    args = parser.parse_args()

    from digitlab.classifiers.cnn import presets
    from digitlab.data import datasets
    from digitlab.train import devices

    device = devices.resolve_device(args.device)
    config = presets.preset(args.preset, device)
    own_steps = config.epochs * -(-60_000 // config.batch_size)
    train = datasets.load("mnist", "train")
    print(describe_machine(str(device)), flush=True)
    graphed = device.type == "cuda" and not args.no_graph
    print(f"{args.preset} on {device.type}: width {config.width}, batch {config.batch_size}, {own_steps} steps in all"
          + (", replayed from a CUDA graph" if graphed else ""))
    print(f"{'batch':>6} {'ms / step':>10} {'us / image':>11} {f'x {own_steps} steps':>12}")
    for batch_size in (int(b) for b in args.batches.split(",")):
        seconds = step_seconds(config, train.images, train.labels, batch_size, args.steps, device, not args.no_graph)
        print(f"{batch_size:>6} {1e3 * seconds:>10.2f} {1e6 * seconds / batch_size:>11.1f} "
              f"{seconds * own_steps:>10.2f} s", flush=True)


if __name__ == "__main__":
    main()
