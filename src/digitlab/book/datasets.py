"""fastai's `untar_data(URLs.MNIST_SAMPLE)`: the folder layouts written from the MNIST shipped in the
package (data/export.py), nothing downloaded."""

from __future__ import annotations

import os
from pathlib import Path

from digitlab.book.missing import MissingAttribute
from digitlab.errors import DataError
from digitlab.store.files import home


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
