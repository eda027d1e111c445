"""metrics.py checked on hand-made outputs whose answers are worked out here: which class a row
predicts, accuracy (one output and many), the confusion matrix's cells, the top losses' order and
values, and the calibration bins."""

import pytest
import torch
import torch.nn.functional as F

from digitlab import metrics


def test_one_output_predicts_the_first_class_only_above_zero():
    # The book's convention: sigmoid > 0.5 (a score > 0) is the first class (index 0); 0 itself is not.
    scores = torch.tensor([2.0, -1.0, 0.0, 0.5])
    assert metrics.predicted_index(scores).tolist() == [0, 1, 1, 0]
    assert metrics.predicted_index(scores[:, None]).tolist() == [0, 1, 1, 0]  # (N, 1) alike


def test_many_outputs_predict_their_largest_column():
    outputs = torch.tensor([[0.1, 0.9, 0.0], [2.0, -1.0, 1.0], [0.0, 0.0, 3.0]])
    assert metrics.predicted_index(outputs).tolist() == [1, 0, 2]
    two = torch.tensor([[-5.0, -6.0], [1.0, 2.0]])  # two columns are an argmax, not the one-output rule
    assert metrics.predicted_index(two).tolist() == [0, 1]


def test_accuracy_of_one_output_reads_target_one_as_the_first_class():
    scores = torch.tensor([2.0, -1.0, 0.0, 3.0])  # predicted first: yes, no, no (0 is not > 0), yes
    targets = torch.tensor([1, 0, 0, 0])  # first, second, second, second
    assert metrics.accuracy(scores, targets).item() == pytest.approx(3 / 4)
    assert metrics.accuracy(scores[:, None], targets[:, None]).item() == pytest.approx(3 / 4)
    assert metrics.accuracy(torch.tensor([0.0]), torch.tensor([1])).item() == 0.0  # the boundary itself
    assert metrics.accuracy(torch.tensor([0.5, -0.5]), torch.tensor([1, 0])).item() == 1.0  # any score above 0


def test_accuracy_of_many_outputs_is_the_share_of_rows_whose_argmax_is_the_target():
    outputs = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.0, 1.0]])
    assert metrics.accuracy(outputs, torch.tensor([1, 0, 0, 1, 1])).item() == pytest.approx(3 / 5)
    assert metrics.accuracy(outputs, torch.tensor([[1], [0], [0], [1], [1]])).item() == pytest.approx(3 / 5)
    assert metrics.accuracy(torch.tensor([[0.1, 0.9, 0.0]]), torch.tensor([1])).item() == 1.0  # one row of three


def test_confusion_matrix_counts_actual_rows_against_predicted_columns():
    actual = torch.tensor([0, 0, 1, 2, 2, 2])
    predicted = torch.tensor([0, 1, 1, 2, 0, 0])
    cm = metrics.confusion_matrix(actual, predicted, 4)  # class 3 never seen: its row and column stay 0
    assert cm.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [2, 0, 1, 0], [0, 0, 0, 0]]
    assert cm.dtype == torch.int64


def test_top_losses_are_the_largest_cross_entropies_largest_first():
    outputs = torch.tensor([[3.0, 0.0], [0.0, 3.0], [1.0, 1.0], [5.0, 0.0], [0.0, 0.5]] * 3)
    targets = torch.tensor([0, 0, 0, 1, 1] * 3)
    losses, rows = metrics.top_losses(outputs, targets)
    assert len(rows) == 9  # the report's grid of nine by default
    expected = F.cross_entropy(outputs, targets, reduction="none")
    assert torch.allclose(losses, expected[rows])
    assert losses.tolist() == sorted(losses.tolist(), reverse=True)
    assert set(rows[:3].tolist()) == {3, 8, 13}  # the 1 read as a confident 0: loss ~5.0
    few, _ = metrics.top_losses(outputs[:2], targets[:2], k=9)
    assert len(few) == 2  # never more than there are rows


def test_top_losses_with_a_loss_function_score_each_item_alone():
    def distance(output, target):  # a loss of (outputs, targets): |output - target|
        return (output - target).abs().sum()

    outputs = torch.tensor([0.9, 0.1, 0.5, 0.0])
    targets = torch.tensor([1.0, 1.0, 0.0, 0.0])
    losses, rows = metrics.top_losses(outputs, targets, k=2, loss_func=distance)
    assert rows.tolist() == [1, 2]
    assert losses.tolist() == pytest.approx([0.9, 0.5])


def test_reliability_bins_hold_the_rows_confidence_and_accuracy():
    # Confidences 0.95 (right), 0.95 (wrong), 0.55 (right) and 1.0 (right), in 10 bins.
    proba = torch.tensor([[0.95, 0.05], [0.05, 0.95], [0.45, 0.55], [1.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 0])
    table = metrics.reliability(proba, labels, bins=10)
    assert table["count"].tolist() == [0, 0, 0, 0, 0, 1, 0, 0, 0, 3]  # 0.55 in (0.5, 0.6]; 1.0 in the last
    assert table["confidence"][9].item() == pytest.approx((0.95 + 0.95 + 1.0) / 3)
    assert table["accuracy"][9].item() == pytest.approx(2 / 3)
    assert table["confidence"][5].item() == pytest.approx(0.55)
    assert table["accuracy"][5].item() == 1.0
    assert table["confidence"][0].item() == 0.0 and table["accuracy"][0].item() == 0.0  # empty bins
    edge = metrics.reliability(torch.tensor([[0.75, 0.25]]), torch.tensor([0]), bins=4)  # 0.75 is exact in float
    assert edge["count"].tolist() == [0, 0, 1, 0]  # exactly 0.75 is (0.5, 0.75]'s, not (0.75, 1]'s


def test_ece_is_the_count_weighted_gap_between_accuracy_and_confidence():
    proba = torch.tensor([[0.95, 0.05], [0.05, 0.95], [0.45, 0.55], [1.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 0])
    gap_last = abs(2 / 3 - (0.95 + 0.95 + 1.0) / 3)  # 3 of the 4 rows
    gap_middle = abs(1.0 - 0.55)  # 1 of the 4
    expected = 3 / 4 * gap_last + 1 / 4 * gap_middle
    assert metrics.expected_calibration_error(proba, labels, bins=10) == pytest.approx(expected)
    right_and_sure = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert metrics.expected_calibration_error(right_and_sure, torch.tensor([0, 1])) == 0.0
    assert metrics.ECE_BINS == 15
    one = metrics.expected_calibration_error(torch.tensor([[0.75, 0.25]]), torch.tensor([0]), bins=4)
    assert one == pytest.approx(0.25)  # right, but only 75 % sure: a gap of 0.25 over all (one) rows


def test_the_lowest_confidences_fall_in_the_first_bin():
    uniform = torch.full((3, 5), 0.2)  # five classes, no preference: confidence 0.2, in (0, 0.25]
    table = metrics.reliability(uniform, torch.tensor([0, 1, 2]), bins=4)
    assert table["count"].tolist() == [3, 0, 0, 0]
    assert table["accuracy"][0].item() == pytest.approx(1 / 3)  # argmax picks column 0: right once
