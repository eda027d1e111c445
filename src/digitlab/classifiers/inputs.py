"""What the classifiers and the cnn recipe accept as images and labels, checked in one place.

Images: (N, 28, 28), (N, 1, 28, 28) or (N, 784); uint8 0-255 (MNIST's own), or float in [0, 1].
Labels: one whole number per image. Anything else is the caller's DataError, naming the fix.
"""

from __future__ import annotations

import torch

from digitlab.errors import DataError

NORMALISATION = "uint8 0-255 divided by 255 -> float32 in [0, 1], white ink on black, (N, 28, 28)"


def as_pixels(x, what: str = "images") -> torch.Tensor:
    """(N, 28, 28), left in its dtype: uint8 stays 4x smaller than float (the recipe keeps a
    whole training set on the device)."""
    x = torch.as_tensor(x)
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]  # (N, 1, 28, 28) -> (N, 28, 28)
    if x.ndim == 2 and x.shape[1] == 28 * 28:
        x = x.reshape(-1, 28, 28)  # (N, 784) -> (N, 28, 28)
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise DataError(f"{what} must be (N, 28, 28), got {tuple(x.shape)}; resize them to 28 x 28 first")
    if x.dtype != torch.uint8 and not x.dtype.is_floating_point:
        raise DataError(f"{what} must be uint8 (0-255) or float in [0, 1], got {x.dtype}")
    return x


def as_images(x, what: str = "images") -> torch.Tensor:
    """(N, 28, 28) float32 in [0, 1], from any of the shapes and dtypes above."""
    x = as_pixels(x, what)
    if x.dtype == torch.uint8:
        return x.float() / 255
    if len(x) and (x.min() < 0 or x.max() > 1):
        raise DataError(f"float {what} must lie in [0, 1]; pass uint8 0-255 images, or divide by 255")
    return x.float()


def as_labels(y, n: int, what: str = "images") -> torch.Tensor:
    """(n,) int64: one label for each of the n images."""
    y = torch.as_tensor(y).reshape(-1).long()
    if len(y) != n:
        raise DataError(f"{n} {what} but {len(y)} labels; give one label per image")
    return y
