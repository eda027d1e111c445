"""The names fastai's chapter 4 tutorials use, so that they run offline on digitlab.

    from digitlab.book import *      # instead of: from fastai.vision.all import *

`untar_data(URLs.MNIST_SAMPLE)` writes fastai's folder layout from the MNIST shipped inside the
package (nothing is downloaded); the training pieces are digitlab's own (`digitlab.train.learner`,
`optim`, `metrics`, `models`). Like fastai, importing this module adds `ls()` to `pathlib.Path`
(and a short repr relative to `Path.BASE_PATH`) and `.shape` to PIL images. This is the one
star-import module of digitlab; library code imports the modules it needs by name.

A fastai name that digitlab does not provide raises `NotInBook`, which says so, instead of an
AttributeError from deep inside: see docs/book.md for what is here and what differs.
"""

from __future__ import annotations

import inspect
import math
import os
import random
import shutil
import string
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from numpy import array
from PIL import Image
from torch import nn

from digitlab.train.callbacks import Recorder as _Recorder
from digitlab.train.callbacks import ShortEpochCallback
from digitlab.errors import DataError, DigitlabError
from digitlab.store.files import home
from digitlab.train.learner import DataLoader, DataLoaders
from digitlab.train.learner import Learner as _Learner
from digitlab.train.learner import steepest_lr
from digitlab.metrics import accuracy
from digitlab.classifiers.networks import resnet18
from digitlab.train.optim import SGD

__all__ = [
    # the Python and scientific modules the tutorials expect in scope
    "torch", "nn", "F", "plt", "np", "pd", "matplotlib", "os", "random", "string", "math",
    "Path", "Image", "array",
    # data
    "untar_data", "URLs", "L", "tensor", "first", "PILImage", "ImageDataLoaders",
    # pictures and notebook helpers
    "show_image", "show_images", "plot_function", "to_np", "gv", "doc",
    # training
    "DataLoader", "DataLoaders", "Learner", "SGD", "accuracy", "resnet18",
    "vision_learner", "cnn_learner", "ShortEpochCallback",
]


class NotInBook(DigitlabError):
    """A fastai feature that digitlab.book does not provide."""


class MissingAttribute(NotInBook, AttributeError):
    """A fastai method or attribute that digitlab's object lacks.

    It is also an AttributeError, so `hasattr` and `getattr(obj, name, default)` keep working.
    """


def _not_in_book(what: str, kind: type[NotInBook] = MissingAttribute) -> NotInBook:
    return kind(
        f"fastai's {what} is not part of digitlab.book; docs/book.md lists what the chapter 4 "
        "tutorials can use"
    )


def _refuse_missing(owner: str, name: str) -> NotInBook | AttributeError:
    # Dunder and private names are Python's protocol probes (numpy, copy, pickle): they must keep
    # getting a plain AttributeError.
    if name.startswith("_"):
        return AttributeError(name)
    return _not_in_book(f"{owner}.{name}")


def __getattr__(name: str):
    """`from digitlab.book import X` for a fastai name that is not here says so.

    Not an AttributeError: `from ... import` would turn that into a bare ImportError.
    """
    if name.startswith("_"):
        raise AttributeError(name)
    raise _not_in_book(name, NotInBook)


# -- L: fastai's list ----------------------------------------------------------------------------
class L(list):
    """fastai's list: shows its length and its first 20 items, `(#26) [(0, 'a'),(1, 'b'),...]`."""

    def __init__(self, items=None, *rest):
        if items is None:
            items = []
        elif isinstance(items, (str, bytes, dict)) or not isinstance(items, Iterable):
            items = [items]  # fastai keeps a string whole rather than listing its letters
        super().__init__([*items, *rest])

    def __repr__(self) -> str:
        shown = ",".join(repr(o) for o in self[:20])
        return f"(#{len(self)}) [{shown}{'...' if len(self) > 20 else ''}]"

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return L(super().__getitem__(idx))
        if isinstance(idx, (list, tuple, torch.Tensor, np.ndarray)):
            picks = list(idx.tolist() if hasattr(idx, "tolist") else idx)
            if picks and all(isinstance(p, bool) for p in picks):  # a mask
                return L(o for o, keep in zip(self, picks) if keep)
            return L(super(L, self).__getitem__(i) for i in picks)
        return super().__getitem__(idx)

    def itemgot(self, *idxs) -> L:
        """Item `idxs[0]` of each element, then item `idxs[1]` of that, and so on."""
        result = self
        for i in idxs:
            result = L(o[i] for o in result)
        return result

    def attrgot(self, name: str) -> L:
        return L(getattr(o, name) for o in self)

    def map(self, f: Callable, *args, **kwargs) -> L:
        return L(f(o, *args, **kwargs) for o in self)

    def filter(self, f: Callable) -> L:
        return L(o for o in self if f(o))

    def sorted(self, key=None, reverse: bool = False) -> L:
        return L(sorted(self, key=key, reverse=reverse))

    def __getattr__(self, name: str):
        raise _refuse_missing("L", name)


# -- what fastai adds to pathlib and PIL -------------------------------------------------------
def _ls(self: Path, n_max: int | None = None, file_exts: Iterable[str] | None = None) -> L:
    """The folder's entries in the order the file system gives them, as fastai's `Path.ls`.

    That order is arbitrary: call `.sorted()` on the result when the order matters.
    """
    if not self.is_dir():
        raise DataError(f"{self}: not a folder, so it has nothing to list")
    exts = None if file_exts is None else set(file_exts)
    entries = (p for p in self.iterdir() if exts is None or p.suffix in exts)
    return L(entries)[:n_max] if n_max is not None else L(entries)


def _path_repr(self: Path) -> str:
    """`Path('train/3/10000.png')`: relative to `Path.BASE_PATH` when that is set, as fastai shows."""
    shown = self
    if getattr(Path, "BASE_PATH", None) is not None:
        try:
            shown = self.relative_to(Path.BASE_PATH)
        except ValueError:
            pass  # a path outside BASE_PATH keeps its full form
    return f"Path({shown.as_posix()!r})"


Path.ls = _ls
Path.__repr__ = _path_repr
Path.BASE_PATH = None
Image.Image.shape = property(lambda im: (im.size[1], im.size[0]))  # (rows, columns), as an array


def tensor(x, *rest, **kwargs) -> torch.Tensor:
    """fastai's `tensor`: a tensor from a list, an array, a PIL image, or several numbers."""
    if rest:
        x = (x, *rest)
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, Image.Image):
        return torch.from_numpy(np.array(x))  # (rows, columns) uint8 for a grayscale image
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x)
    return torch.tensor(x, **kwargs)


def first(items, f: Callable | None = None):
    """The first element of `items` (for which `f` is true), or None: `xb, yb = first(dl)`."""
    return next((o for o in items if f is None or f(o)), None)


# -- the datasets --------------------------------------------------------------------------------
class _URLs:
    """fastai's dataset addresses. digitlab never fetches them: `untar_data` reads the name at the
    end of the address and writes that layout from the shipped MNIST."""

    MNIST = "https://s3.amazonaws.com/fast-ai-imageclas/mnist_png.tgz"
    MNIST_SAMPLE = "https://s3.amazonaws.com/fast-ai-sample/mnist_sample.tgz"
    MNIST_TINY = "https://s3.amazonaws.com/fast-ai-sample/mnist_tiny.tgz"

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        raise MissingAttribute(
            f"fastai's URLs.{name} is not part of digitlab.book: only the MNIST data ships with "
            "digitlab; use URLs.MNIST, URLs.MNIST_SAMPLE or URLs.MNIST_TINY"
        )


URLs = _URLs()
_LAYOUTS = {"mnist_png", "mnist_sample", "mnist_tiny"}


def untar_data(url: str, data: str | os.PathLike | None = None, force_download: bool = False) -> Path:
    """The folder of fastai's dataset `url`, written from the shipped MNIST on first use.

    url: `URLs.MNIST`, `URLs.MNIST_SAMPLE` or `URLs.MNIST_TINY` (or the layout name itself).
    data: the folder the layout goes in; default `<digitlab cache>/book`, reused on later calls.
    force_download is accepted for fastai's signature and changes nothing: nothing is downloaded.
    """
    name = str(url).rstrip("/").rsplit("/", 1)[-1].removesuffix(".tgz").removesuffix(".tar.gz")
    if name not in _LAYOUTS:
        raise DataError(
            f"untar_data({url!r}): digitlab works offline and has only the MNIST layouts; use "
            "URLs.MNIST, URLs.MNIST_SAMPLE or URLs.MNIST_TINY"
        )
    from digitlab.data.export import export_layout  # writes the layout, or reuses a complete one

    # quiet: as fastai's, a second call returns the folder without a word
    return export_layout(name, data if data is not None else home() / "book", quiet=True)


# -- pictures ----------------------------------------------------------------------------------
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
        else:
            import io

            try:
                image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
                image.load()
            except (OSError, ValueError) as err:
                raise DataError(f"{source}: not a readable image ({err})") from err
        image = image.convert("RGB")
        image.__class__ = cls  # the same pixels, now with fastai's `show`
        return image

    def show(self, ctx=None, figsize=None, title: str | None = None, **kwargs):
        return show_image(self, ax=ctx, figsize=figsize, title=title, **kwargs)

    def __getattr__(self, name: str):
        raise _refuse_missing("PILImage", name)


# -- training ------------------------------------------------------------------------------------
class SuggestedLRs(NamedTuple):
    """What the book's `lr_find` returns: `lr_min, lr_steep = learn.lr_find()`."""

    lr_min: float  # a tenth of the lr where the smoothed loss was lowest
    lr_steep: float  # the lr where the loss fell fastest


class Recorder(_Recorder):
    """The Recorder whose `plot_loss` draws in the notebook, as fastai's does."""

    def plot_loss(self, skip_start: int = 5, with_valid: bool = True) -> None:
        _, ax = plt.subplots(figsize=(6, 4))
        super().plot_loss(skip_start, with_valid, ax=ax)


class Learner(_Learner):
    """digitlab's Learner (`fit`, `fit_one_cycle`, `lr_find`, `recorder.values`), saying so when a
    tutorial asks for a fastai method it does not have."""

    recorder_type = Recorder

    def lr_find(self, start_lr: float = 1e-7, end_lr: float = 10.0, num_it: int = 100,
                show_plot: bool = True) -> SuggestedLRs:
        """The book's lr_find: the loss against growing lrs plotted, the two suggestions marked
        on the curve, and returned as `SuggestedLRs(lr_min, lr_steep)`. The weights are put back."""
        lr_min = super().lr_find(start_lr, end_lr, num_it)
        lrs, losses = self.recorder.lrs, self.recorder.losses
        found = SuggestedLRs(lr_min, steepest_lr(lrs, losses))
        if show_plot:
            _, ax = plt.subplots(figsize=(6, 4))
            self.recorder.plot_lr_find(ax=ax)
            for lr, style, label in ((found.lr_min, "ro", "lr_min"), (found.lr_steep, "go", "lr_steep")):
                ax.plot(lr, np.interp(np.log(lr), np.log(lrs), losses), style, label=f"{label} {lr:.2e}")
            ax.legend()
        return found

    def __getattr__(self, name: str):
        raise _refuse_missing("Learner", name)


class ImageDataLoaders(DataLoaders):
    """DataLoaders over a folder of `<split>/<digit>/*.png`, as fastai's `from_folder` builds them."""

    @classmethod
    def from_folder(cls, path: str | os.PathLike, train: str = "train", valid: str = "valid",
                    bs: int = 64, seed: int | None = None, device=None, **fastai_options) -> ImageDataLoaders:
        """Images as (N, 1, 28, 28) floats in [0, 1]; targets are indices into `vocab`, the sorted
        label folder names (3 -> 0 and 7 -> 1 for 3s and 7s). The training set is shuffled each
        epoch (from `seed` when given) and, as in fastai, drops its last incomplete batch."""
        if fastai_options:
            raise _not_in_book(f"ImageDataLoaders.from_folder option {', '.join(fastai_options)}")
        from digitlab.data.folders import load_folder

        root = Path(path)
        train_set, valid_set = load_folder(root / train), load_folder(root / valid)
        vocab = sorted(set(train_set.labels.tolist()))
        class_of = torch.full((10,), -1, dtype=torch.long)
        class_of[vocab] = torch.arange(len(vocab))

        def tensors(digits) -> tuple[torch.Tensor, torch.Tensor]:
            images = digits.images.unsqueeze(1).float() / 255  # (N, 28, 28) uint8 -> (N, 1, 28, 28)
            targets = class_of[digits.labels]  # (N,) digits -> (N,) class indices
            if (targets < 0).any():
                raise DataError(f"{root / valid}: has digits that {root / train} does not; they cannot be classes")
            return images, targets

        if device is None and torch.cuda.is_available():
            device = "cuda"  # as fastai, the GPU when there is one
        dls = cls(
            DataLoader(tensors(train_set), batch_size=bs, shuffle=True, seed=seed, drop_last=True),
            DataLoader(tensors(valid_set), batch_size=bs * 2),  # no gradients: twice the batch fits
            device=device,
        )
        dls.vocab, dls.c = [str(v) for v in vocab], len(vocab)
        return dls

    def __getattr__(self, name: str):
        raise _refuse_missing("DataLoaders", name)


def vision_learner(dls: DataLoaders, arch: Callable = resnet18, pretrained: bool = True,
                   loss_func: Callable | None = None, metrics=(), n_out: int | None = None,
                   lr: float = 1e-3, **fastai_options) -> Learner:
    """A Learner for `arch` (digitlab's `resnet18`, with fastai's head) on `dls`, from random weights.

    fastai trains with Adam by default; digitlab has SGD, so this uses SGD with momentum 0.9, which
    `fit_one_cycle` moves between 0.95 and 0.85 as fastai does.
    """
    if pretrained:
        raise DigitlabError(
            "vision_learner: no pretrained weights ship with digitlab, which works offline; pass "
            "pretrained=False to train from random weights"
        )
    if fastai_options:
        raise _not_in_book(f"vision_learner option {', '.join(fastai_options)}")
    n_out = n_out if n_out is not None else getattr(dls, "c", None)
    if n_out is None:
        raise DigitlabError("vision_learner: pass n_out (the number of classes) for these DataLoaders")
    return Learner(dls, arch(n_out), opt_func=_sgd_momentum, loss_func=loss_func or F.cross_entropy,
                   metrics=metrics, lr=lr)


def _sgd_momentum(params, lr: float) -> SGD:
    return SGD(params, lr, mom=0.9)


cnn_learner = vision_learner  # the book's older name for it
