"""The book's numbers, reproduced by the code of examples/reproduce_book.py (seeded).

The quick ones run by default; the long ones are marked slow (`pytest -m slow`).
"""

import importlib.util
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "reproduce_book.py"


@pytest.fixture(scope="module")
def book():
    spec = importlib.util.spec_from_file_location("reproduce_book", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pixel_similarity_l1_gives_the_books_exact_accuracies(book):
    threes, sevens = book.pixel_l1_3s_7s()
    assert round(threes, 4) == 0.9168 and round(sevens, 4) == 0.9854


def test_ten_digit_pixel_similarity_l2_reaches_82_percent(book):
    assert book.ten_digits("pixel") >= 0.82


def test_learner_linear_10_epochs_at_lr_1(book):
    assert 0.96 <= book.learner_linear() <= 0.98  # the book: 0.9671


def test_hand_sgd_linear_20_epochs(book):
    # the book: about 0.97-0.98; seeds 0-4 give 0.9647, 0.9711, 0.9647, 0.9725, 0.9691 here
    assert 0.96 <= book.hand_sgd_linear() <= 0.985


@pytest.mark.slow
def test_simple_net_40_epochs_at_lr_0_1(book):
    assert book.learner_simple_net() >= 0.978  # the book: 0.9818


@pytest.mark.slow
def test_resnet18_one_cycle_reaches_99_percent(book):
    # the book: 0.9961; measured here: 0.998 in 561 s on the 2 shared CPU cores
    assert book.resnet18_one_cycle() >= 0.99


@pytest.mark.slow
@pytest.mark.parametrize("method, floor", [("linear", 0.92), ("simple_net", 0.975)])
def test_ten_digits_on_the_full_test_set(book, method, floor):
    assert book.ten_digits(method) >= floor


@pytest.mark.slow
def test_ten_digit_cnn_reaches_99_3_percent(book):
    assert book.ten_digits("cnn") >= 0.993
