"""The chapter's pictures and notebook helpers: `show_image(s)`, `plot_function`, `to_np`, `gv`
(Graphviz), `doc`, `PILImage`."""

from __future__ import annotations

import inspect
import io
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image

from digitlab.book.missing import _refuse_missing
from digitlab.errors import DataError
from digitlab.vision.decoding import decode

# fastai keeps an image's size; the decoder still refuses one whose pixels pass MAX_DECODE_BYTES.
BOOK_SIDE = 1 << 14  # px, the longer side past which an image is shrunk (never, within that budget)


def _as_picture(im) -> np.ndarray:
    """(H, W) or (H, W, C) numbers that imshow can draw, from a tensor, array or PIL image."""
    if isinstance(im, Image.Image):
        return np.asarray(im)
    im = im.detach().cpu() if isinstance(im, torch.Tensor) else np.asarray(im)
    if im.ndim == 3 and im.shape[0] in (1, 3) and im.shape[-1] not in (1, 3):
        im = im.permute(1, 2, 0) if isinstance(im, torch.Tensor) else im.transpose(1, 2, 0)  # CHW -> HWC
    im = np.asarray(im)
    return im[..., 0] if im.ndim == 3 and im.shape[-1] == 1 else im


def show_image(im, ax=None, figsize=None, title: str | None = None, ctx=None, **kwargs):
    """Draw one image on `ax` (or a new figure) without axes; returns the axes.

    Colours follow matplotlib's `image.cmap`, which the tutorials set to 'Greys'.
    """
    ax = ax if ax is not None else ctx
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    ax.imshow(_as_picture(im), **kwargs)
    if title is not None:
        ax.set_title(title)
    ax.axis("off")
    return ax


def show_images(ims, nrows: int = 1, ncols: int | None = None, titles=None, figsize=None,
                **kwargs) -> None:
    """Draw several images in a grid of `nrows` rows (`plt.gcf()` is the grid's figure).

    Returns nothing, as fastai's: a returned Figure would be drawn a second time by Jupyter.
    """
    ims = list(ims)
    ncols = ncols if ncols is not None else math.ceil(len(ims) / nrows)
    _, axs = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    titles = list(titles) if titles is not None else [None] * len(ims)
    for im, title, ax in zip(ims, titles, axs.flat):
        show_image(im, ax=ax, title=title, **kwargs)
    for ax in list(axs.flat)[len(ims):]:
        ax.axis("off")  # empty cells of the grid


def plot_function(f: Callable, tx: str | None = None, ty: str | None = None, title: str | None = None,
                  min: float = -2, max: float = 2, figsize=(6, 4)) -> None:
    """Plot y = f(x) for 100 points of [min, max], as the book draws its functions.

    Returns nothing, as the book's: a notebook shows the plot and no `<Axes ...>` line above it.
    """
    x = torch.linspace(min, max, 100)  # (100,)
    _, ax = plt.subplots(figsize=figsize)
    ax.plot(x, f(x))
    if tx is not None:
        ax.set_xlabel(tx)
    if ty is not None:
        ax.set_ylabel(ty)
    if title is not None:
        ax.set_title(title)


def to_np(x):
    """fastai's `to_np`: a tensor as a numpy array (detached, on the CPU); lists, tuples and dicts
    of tensors converted item by item."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, dict):
        return {k: to_np(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(*map(to_np, x)) if hasattr(x, "_fields") else type(x)(map(to_np, x))
    return x


class _Diagram:
    """What `gv` returns where Graphviz is missing: the diagram's source and how to draw it."""

    def __init__(self, source: str, missing: str):
        self.source, self.missing = source, missing

    def __repr__(self) -> str:
        return (f"gv: cannot draw this diagram: {self.missing}. Install both with `pip install "
                "graphviz` and your system's graphviz package (`apt-get install graphviz`, `brew "
                f"install graphviz` or graphviz.org's installer). Its source:\n{self.source}")


def gv(s: str):
    """The book's diagrams: `gv("x->y")` draws Graphviz's `digraph G{ rankdir="LR"x->y; }`.

    Needs the graphviz Python package and Graphviz's `dot` program; without either, the result
    shows the diagram's source and says how to install them.
    """
    source = 'digraph G{ rankdir="LR"' + s + "; }"
    try:
        import graphviz
    except ImportError:
        return _Diagram(source, "the graphviz Python package is not installed")
    if shutil.which("dot") is None:
        return _Diagram(source, "Graphviz's `dot` program is not on PATH")
    return graphviz.Source(source)


def doc(f) -> None:
    """fastai's `doc`: prints how to call `f`, its documentation, and the module defining it."""
    name = getattr(f, "__qualname__", getattr(f, "__name__", type(f).__name__))
    try:
        signature = str(inspect.signature(f))
    except (TypeError, ValueError):  # some builtins have none
        signature = "(...)"
    module = getattr(f, "__module__", None) or type(f).__module__
    print(f"{name}{signature}\n\n{inspect.getdoc(f) or 'No documentation.'}\n\nDefined in {module}.")


class PILImage(Image.Image):
    """fastai's image type: a PIL image (RGB, as fastai's) whose `show` draws with matplotlib."""

    @classmethod
    def create(cls, source) -> PILImage:
        """From a file path, bytes, a (H, W) / (H, W, 3) uint8 array or tensor, or a PIL image."""
        if isinstance(source, (torch.Tensor, np.ndarray)):
            image = Image.fromarray(np.asarray(source.cpu() if isinstance(source, torch.Tensor) else source))
        elif isinstance(source, Image.Image):
            image = source
        else:  # a path or a file's bytes: through vision/decoding.py, the one decoder, with its limits
            stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
            if not isinstance(source, (bytes, bytearray)) and not Path(source).is_file():
                raise DataError(f"{source}: no such image file; check the path")
            image = decode(stream, "image" if isinstance(source, (bytes, bytearray)) else str(source), BOOK_SIDE)
        image = image.convert("RGB")
        image.__class__ = cls  # the same pixels, now with fastai's `show`
        return image

    def show(self, ctx=None, figsize=None, title: str | None = None, **kwargs):
        return show_image(self, ax=ctx, figsize=figsize, title=title, **kwargs)

    def __getattr__(self, name: str):
        raise _refuse_missing("PILImage", name)
