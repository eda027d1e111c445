"""What the compare job trains by default: `CompareConfig`, one plan a method (the options it gives
that method, only ones it has), chosen on held-out digits; where it writes (`DEFAULT_OUT`; `QUICK_OUT` for `--quick`) and what it reads (`DEFAULT_DATASETS`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from digitlab.errors import DigitlabError
from digitlab.service import options_of
from digitlab.train.devices import device_kind


DEFAULT_DATASETS = ("mnist_sample", "mnist")
DEFAULT_OUT = "digitlab-out"
# `--quick`'s own folder, beside the full compare's and never inside it: its smoke models cannot replace
# real ones, and `digitlab serve`'s default (the last full compare's, in DEFAULT_OUT) never finds them.
QUICK_OUT = "digitlab-quick"


# One method's settings for the job: option name -> value, only options that method has (checked
# when a CompareConfig is made), each in place of its config's default; the rest are its config's.
MethodPlan = Mapping[str, object]


def _plan(**options) -> MethodPlan:
    return dataclasses.field(default_factory=lambda: MappingProxyType(dict(options)))


@dataclass(frozen=True)
class CompareConfig:
    """What `digitlab compare` trains by default: each method at its best within ~60 s on 2 CPU cores.

    Chosen on 5,000 images held out of MNIST's training images (1,000 for 3 vs 7), never on the test
    set (`benchmarks/held_out_choice.py`; figures in benchmarks/RESULTS.md). Deskewing (deskew.py)
    helps every cheap method: held out, pixel similarity 96.4 -> 98.0 % on 3 vs 7, the linear model
    98.7 -> 99.4 % on 3 vs 7 after 5 epochs (95.4 % deskewed on ten digits). Other people's digits
    (the stress set, 3 seeds, 10,000 held out) chose two more: pixel similarity with 15 ideal digits
    a class (held out 95.8 %, stress 91.5 %, against one mean's 87.9 and 73.4 %), and the linear model's
    digits stretched to MNIST's width as well (96.1 and 91.2 %, against 95.4 and 87.2 % deskewed
    alone). The net at lr 0.25 in batches of 128 reaches 98.1 %
    on ten digits in 10 epochs (0.7 s an epoch; 9 since 2026-12-07, below); at lr 0.5 it is as good by epoch 8 but plain SGD at
    that lr jumps (80.5 % for one epoch of 3 vs 7), so the lower lr. The cnn dominates the cost (28
    single-thread seconds an epoch of MNIST), so it gets its fast recipe as it is on CPU (2 epochs); on a GPU,
    where an epoch of the cnn on MNIST takes 0.1 s, it gets 8: the GPU form's own 2 epochs of batch
    256 make only 98 steps of the 3-vs-7 task's 12,396 images, 98.1 % (mean of 3 seeds); 4 epochs
    99.4 %, 8 epochs 99.85 %. The job's wall time: `benchmarks/compare_budget.py`. Settings not named
    here are the methods' own defaults (classifiers.PixelConfig, LinearConfig, SimpleNetConfig, and
    the cnn's CNNConfig from its preset); the report lists every one.
    """

    # no epochs: 15 ideal digits per class, each class's k-means from one start (five, PixelConfig's
    # default, were no better: held out 94.47 against one start's 94.62 %, stress 91.52 against 91.99 %,
    # mean of 3 seeds, in twice the time: benchmarks/pixel_starts.py, 2026-12-07)
    pixel: MethodPlan = _plan(distance="l2", deskew=True, ideals=15, kmeans_starts=1)
    linear: MethodPlan = _plan(epochs=5, deskew=True, stretch=True)
    # 9 epochs: the fewest within 0.10 point of 10 on held-out digits and 0.30 on the stress set (96.66 /
    # 94.85 % against 96.75 / 94.69 %, mean of 3 seeds: benchmarks/simple_net_epochs.py, 2026-12-07)
    simple_net: MethodPlan = _plan(epochs=9, lr=0.25, batch_size=128, deskew=True)
    cnn: MethodPlan = _plan(preset="fast")  # its CPU form as it is (the preset table decides its epochs)
    cnn_on_gpu: MethodPlan = _plan(preset="fast", epochs=8)  # on CUDA, where the GPU form's 2 epochs are too few steps
    quick_train: int = 600  # images per task with --quick: enough to learn something in a second
    quick_test: int = 300
    quick_epochs: int = 1  # every trained method's epochs with --quick (unless --epochs is given)
    worst: int = 9  # top-loss images kept per run for the report

    def __post_init__(self):
        for method in ("pixel", "linear", "simple_net", "cnn", "cnn_on_gpu"):
            owner = method.removesuffix("_on_gpu")
            unknown = sorted(set(getattr(self, method)) - options_of(owner))
            if unknown:  # a setting the method lacks would be dropped or refused when the job makes it
                raise DigitlabError(f"compare plan {method}: {', '.join(unknown)} is not an option of {owner}")

    def plan(self, method: str, epochs: int | None = None, device: str = "cpu") -> MethodPlan:
        """The method's options on `device`, with `epochs` (when given) in place of every trained method's."""
        on_gpu = method == "cnn" and device_kind(device) == "cuda"
        plan = dict(self.cnn_on_gpu if on_gpu else getattr(self, method))
        if epochs is not None and "epochs" in options_of(method):
            plan["epochs"] = epochs
        return MappingProxyType(plan)
