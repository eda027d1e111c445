"""Which digits need the cnn's test-time shifts: ShiftAverage.SURE_GAP, chosen on held-out images only.

For a cnn with test-time shifts (the shipped one, or the model folder given), on the 4,000
calibration digits (heldout.CALIBRATION), the stress set and the corruption set's seen kinds on the
first 100 calibration digits (corrupted.tuning_set): the accuracy of the plain view, of the mean over
all five views, and of the plain view where its top two logits are at least GAP apart (the shifts
for the rest), with how many images get shifted, how many answers differ from the five views' mean,
and the calibration error (ECE, 15 bins, the model's own temperature). MNIST's test set is never read.

    python benchmarks/shift_choice.py [MODEL_FOLDER]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from digitlab import metrics, pretrained, service
from digitlab.data import corrupted, datasets, heldout

GAPS = (1.0, 1.5, 2.0, 2.5, 3.0)


def held_out_sets() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    train = datasets.load("mnist", "train")
    images, labels = train.images.numpy(), train.labels.numpy()
    calibration = np.asarray(heldout.CALIBRATION)
    stress = datasets.load("stress", "valid")
    damaged, damaged_labels = corrupted.tuning_set((images, labels), per_kind=100)
    return {"calibration digits": (torch.from_numpy(images[calibration]), torch.from_numpy(labels[calibration])),
            "stress set": (stress.images, stress.labels),
            "seen damage": (torch.from_numpy(damaged), torch.from_numpy(damaged_labels))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="a cnn's folder (default: the shipped cnn)")
    folder = parser.parse_args().model
    clf = service.load(folder) if folder else pretrained.load("cnn")
    model, temperature = clf.model_.eval(), clf.temperature_
    print(f"{folder or 'shipped cnn'}: temperature {temperature:.3f}; accuracy, share shifted, answers unlike "
          f"the five views' mean, ECE")
    for name, (images, labels) in held_out_sets().items():
        with torch.inference_mode():
            seen = clf._images(images).float().unsqueeze(1)  # as predict prepares them, (N, 1, 28, 28)
            start = time.perf_counter()
            plain = torch.cat([model.net(part) for part in seen.split(1024)])  # (N, C)
            plain_seconds = time.perf_counter() - start
            start = time.perf_counter()
            every = torch.cat([model.averaged(part) for part in seen.split(1024)])
            every_seconds = time.perf_counter() - start
        truth = clf._index(labels.long())
        top = plain.topk(2, dim=1).values
        gap = top[:, 0] - top[:, 1]

        def row(label: str, logits: torch.Tensor, shifted: float) -> str:
            right = (logits.argmax(1) == truth).float().mean().item()
            unlike = (logits.argmax(1) != every.argmax(1)).sum().item()
            ece = metrics.expected_calibration_error(torch.softmax(logits.double() / temperature, 1), truth)
            return f"  {label:<14} {right:8.3%}  shifted {shifted:6.1%}  unlike {unlike:3d}  ECE {ece:.3%}"

        print(f"{name} ({len(truth):,} images; plain {plain_seconds:.2f} s, all five views {every_seconds:.2f} s)")
        print(row("plain", plain, 0.0))
        print(row("all five views", every, 1.0))
        for g in GAPS:
            sure = gap >= g
            print(row(f"gap >= {g}", torch.where(sure[:, None], plain, every), 1 - sure.float().mean().item()))


if __name__ == "__main__":
    main()
