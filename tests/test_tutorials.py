"""The tutorials' own code (tests/tutorials/, import line swapped for digitlab.book) runs on digitlab
and prints the book's numbers.

The default run covers four tutorials in one subprocess (about 30 s on two cores): everything but
the resnet18 cell of Lesson 3 and the full-MNIST tutorial, which are `slow` (docs/book.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).parent / "tutorials"
# One row of the Learner's table: epoch, train_loss, valid_loss, a metric, time.
TABLE_ROW = re.compile(r"^\s*(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+\d\d:\d\d\s*$", re.M)


def run_tutorials(*names: str, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """{file name: what it printed}, run by the notebook runner with one torch thread (several
    threads only fight each other on a shared two-core machine)."""
    command = [sys.executable, str(TUTORIALS / "notebook.py"), *(str(TUTORIALS / n) for n in names)]
    command += ["--threads", "1", *(arg for tag in skip for arg in ("--skip", tag))]
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    parts = re.split(r"^=== (\S+) ===$", proc.stdout, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def tables(output: str) -> list[list[tuple[float, ...]]]:
    """The Learner tables in `output`, each a list of (train_loss, valid_loss, metric) rows."""
    found: list[list[tuple[float, ...]]] = []
    for match in TABLE_ROW.finditer(output):
        epoch, *numbers = match.groups()
        if epoch == "0":
            found.append([])
        found[-1].append(tuple(float(n) for n in numbers))
    return found


def last_epoch_accuracies(output: str) -> list[float]:
    """The accuracy printed on each `Epoch 19 accuracy: 0.93` line of a hand-written loop."""
    return [float(a) for a in re.findall(r"^Epoch 19 accuracy: ([\d.]+)$", output, re.M)]


@pytest.fixture(scope="module")
def printed() -> dict[str, str]:
    return run_tutorials(
        "tutorial_0_three_methods.py",
        "tutorial_2_lesson3.py",
        "tutorial_3_from_scratch.py",
        "tutorial_4_sgd.py",
        skip=("slow",),
    )


def test_lesson3_pixel_similarity_is_exactly_the_books(printed):
    out = printed["tutorial_2_lesson3.py"]
    assert "(tensor(0.1114), tensor(0.2021))" in out  # distances of one 3 to the mean 3
    assert "(tensor(0.1586), tensor(0.3021))" in out  # ... and to the mean 7
    assert "(torch.Size([1010, 28, 28]), torch.Size([1028, 28, 28]))" in out
    # The write-up's figures (validation pixels left at 0-255), then the book's (scaled to [0, 1]).
    assert "(tensor(0.9436), tensor(0.9815), tensor(0.9625))" in out
    assert "(tensor(0.9168), tensor(0.9854), tensor(0.9511))" in out


def test_lesson3_files_and_pixels_are_the_books(printed):
    out = printed["tutorial_2_lesson3.py"]
    assert "Path('.')" in out  # Path.BASE_PATH = path
    assert "\n12396\n" in out  # 3s and 7s in train/
    assert "Path('train/3/10000.png')" in out  # threes[1] after .sorted()
    assert "[  0, 107, 253, 253, 230,  48]" in out  # a row of array(im3)[4:10, 4:10]
    assert "(6131, 6131)" in out and "(6265, 6265)" in out
    assert "(#26) [(0, 'a'),(1, 'b'),(2, 'c')," in out and "(19, 't')...]" in out


def test_lesson3_learner_results_are_within_half_a_point_of_the_books(printed):
    linear, simple_net = tables(printed["tutorial_2_lesson3.py"])
    assert len(linear) == 10 and len(simple_net) == 40
    # The book: 0.967125 after learn.fit(10, lr=1), 0.981845 after the simple net's fit(40, 0.1).
    assert abs(linear[-1][2] - 0.967125) <= 0.005, linear[-1]
    assert abs(simple_net[-1][2] - 0.981845) <= 0.005, simple_net[-1]
    assert simple_net[-1][1] < simple_net[0][1] / 10  # the validation loss came down


def test_three_methods_on_mnist_tiny(printed):
    out = printed["tutorial_0_three_methods.py"]
    assert "(torch.Size([346, 28, 28]), torch.Size([353, 28, 28]))" in out
    assert "(torch.Size([709, 784]), torch.Size([346, 28, 28]), torch.Size([363, 28, 28]))" in out
    # mnist_tiny holds fastai's files (data.py), so the write-up's file and pixel figures are exact.
    assert "train/3/7030.png')" in out  # threes[1]
    assert "(tensor(0.1350), tensor(0.2499))" in out  # one 3's distances to the mean 3 and 7
    assert "(tensor(0.9335), tensor(0.9972), tensor(0.9653))" in out  # pixel similarity
    last_net_line = out.strip().splitlines()[-1].split()
    assert len(last_net_line) == 20 and float(last_net_line[-1]) > 0.9  # the net's 20 epochs


def test_from_scratch_seeded_as_the_write_up(printed):
    out = printed["tutorial_3_from_scratch.py"]
    # torch.manual_seed(100) then init_params((784, 1)): the write-up's own first weights.
    assert "tensor([2.8108], grad_fn=<UnbindBackward0>)" in out
    assert "(tensor(0.), tensor(1.), tensor(0.), tensor(1.))" in out
    linear, net = last_epoch_accuracies(out)
    assert linear > 0.8 and net > 0.9


def test_sgd_part2_builds_the_data_set(printed):
    out = printed["tutorial_4_sgd.py"]
    assert "torch.Size([12396, 784]) torch.Size([12396, 1])" in out
    assert "torch.Size([784]) tensor([1])" in out
    assert "<Axes" not in out  # plot_function shows its plot and returns nothing, as the book's


@pytest.mark.slow
def test_lesson3_resnet18_reaches_the_books_accuracy():
    out = run_tutorials("tutorial_2_lesson3.py")["tutorial_2_lesson3.py"]
    *_, resnet = tables(out)
    assert len(resnet) == 1 and resnet[0][2] >= 0.99, resnet  # the book: 0.996075


@pytest.mark.slow
def test_ten_digits_pixel_similarity_is_exactly_the_write_ups():
    out = run_tutorials("tutorial_1_ten_digits.py", skip=("resnet",))["tutorial_1_ten_digits.py"]
    flat = " ".join(out.split())  # torch wraps a ten-number tensor over two lines
    assert "torch.Size([5842, 28, 28])" in out
    assert "tensor(0.6089)" in out  # the 3s by mean absolute error
    # Per-digit accuracies by mean absolute error, then by mean squared error: the write-up's.
    assert "tensor([0.8153, 0.9982, 0.4234, 0.6089, 0.6680, 0.3262, 0.7871, 0.7646, 0.4425, 0.7760])" in flat
    assert "tensor([0.8959, 0.9621, 0.7568, 0.8059, 0.8259, 0.6861, 0.8633, 0.8327, 0.7372, 0.8067])" in flat
    assert "(torch.Size([60000, 784]), torch.Size([60000]))" in out
    *_, cross_entropy_linear, sigmoid_net = [float(a) for a in re.findall(r"^(0\.\d+)$", out, re.M)]
    assert cross_entropy_linear > 0.9 and sigmoid_net > 0.93  # the write-up: 91.5% and about 95%
