"""The names fastai's chapter 4 tutorials use, so that they run offline on digitlab.

    from digitlab.book import *      # instead of: from fastai.vision.all import *

`untar_data(URLs.MNIST_SAMPLE)` writes fastai's folder layout from the MNIST shipped inside the
package (nothing is downloaded); the training pieces are digitlab's own (`digitlab.train.learner`,
`optim`, `metrics`, `classifiers.networks`). Like fastai, importing this module adds `ls()` to `pathlib.Path`
(and a short repr relative to `Path.BASE_PATH`) and `.shape` to PIL images. This is the one
star-import module of digitlab; library code imports the modules it needs by name.

A fastai name that digitlab does not provide raises `NotInBook`, which says so, instead of an
AttributeError from deep inside: see docs/book.md for what is here and what differs.

The pieces: basics.py (L, tensor, the pathlib and PIL additions), datasets.py (untar_data, URLs),
pictures.py (plots and notebook helpers), training.py (Learner, ImageDataLoaders, vision_learner),
missing.py (NotInBook).
"""


from __future__ import annotations

import math
import os
import random
import string
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from numpy import array
from PIL import Image
from torch import nn

from digitlab.book.basics import L, first, tensor
from digitlab.book.datasets import URLs, untar_data
from digitlab.book.missing import NotInBook, _not_in_book
from digitlab.book.pictures import PILImage, doc, gv, plot_function, show_image, show_images, to_np
from digitlab.book.training import ImageDataLoaders, Learner, cnn_learner, vision_learner
from digitlab.classifiers.networks import resnet18
from digitlab.metrics import accuracy
from digitlab.train.callbacks import ShortEpochCallback
from digitlab.train.learner import DataLoader, DataLoaders
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


def __getattr__(name: str):
    """`from digitlab.book import X` for a fastai name that is not here says so.

    Not an AttributeError: `from ... import` would turn that into a bare ImportError.
    """
    if name.startswith("_"):
        raise AttributeError(name)
    raise _not_in_book(name, NotInBook)

