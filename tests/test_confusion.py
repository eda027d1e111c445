"""The confusion matrix's orientation, scikit-learn's: rows are the actual digit, columns the predicted.

One hand-made case where the two orientations differ (three 3s read as 8, every other digit read
right), followed through `metrics.confusion_matrix`, `service.evaluate`, the table `digitlab
evaluate` prints and the report's table. A totals-only check (sum, diagonal) cannot tell a
transposed matrix from the right one; these can.
"""

from __future__ import annotations

import re
import types

import torch

from digitlab import metrics, service
from digitlab.report import confusion
from cli_run import digitlab

# Two of every digit but 3, three 3s: (21,) labels. The reader below sees every 3 as an 8.
LABELS = torch.tensor([d for d in range(10) for _ in range(3 if d == 3 else 2)])
MISREAD = {3: 8}


class ThreesAsEights:
    """A fitted ten-digit classifier that reads the digit written in pixel (0, 0), and every 3 as 8."""

    method = "stub"
    classes_ = torch.arange(10)
    calibration_ = None

    def predict_proba(self, X: torch.Tensor) -> torch.Tensor:
        written = X[:, 0, 0].round().long()  # (N,)
        read = torch.tensor([MISREAD.get(int(d), int(d)) for d in written])
        return torch.nn.functional.one_hot(read, 10).float() * 0.9 + 0.01  # (N, 10), rows sum to 1


def _images() -> torch.Tensor:
    images = torch.zeros(len(LABELS), 28, 28)  # (N, 28, 28)
    images[:, 0, 0] = LABELS.float()
    return images


def _assert_threes_read_as_eights(cm) -> None:
    cm = torch.as_tensor(cm)
    assert cm.shape == (10, 10)
    assert int(cm[3, 8]) == 3 and int(cm[8, 3]) == 0  # row 3 (actual), column 8 (predicted)
    assert int(cm[3, 3]) == 0 and int(cm[8, 8]) == 2
    assert cm.sum(dim=1).tolist() == [2, 2, 2, 3, 2, 2, 2, 2, 2, 2]  # each row: how many of that digit
    assert cm.sum(dim=0).tolist() == [2, 2, 2, 0, 2, 2, 2, 2, 5, 2]  # each column: how often predicted


def test_metrics_confusion_matrix_takes_actual_then_predicted():
    predicted = torch.tensor([MISREAD.get(int(d), int(d)) for d in LABELS])
    _assert_threes_read_as_eights(metrics.confusion_matrix(LABELS, predicted, 10))


def test_metrics_confusion_matrix_counts_each_actual_predicted_pair_by_definition():
    generator = torch.Generator().manual_seed(0)
    actual = torch.randint(0, 4, (200,), generator=generator)
    predicted = torch.randint(0, 4, (200,), generator=generator)
    cm = metrics.confusion_matrix(actual, predicted, 4)
    # scikit-learn's definition: C[i, j] = how many items of actual class i were predicted as j.
    expected = [[int(((actual == i) & (predicted == j)).sum()) for j in range(4)] for i in range(4)]
    assert cm.tolist() == expected and cm.dtype == torch.int64


def test_compare_evaluate_keeps_the_orientation():
    scores = service.evaluate(ThreesAsEights(), _images(), LABELS, worst=3)
    _assert_threes_read_as_eights(scores["confusion"])
    assert {(w.actual, w.predicted) for w in scores["worst"]} == {(3, 8)}


def test_the_evaluate_command_prints_actual_rows_and_predicted_columns(monkeypatch, capsys):
    from digitlab.data import datasets
    from digitlab.data.digits import Digits

    test_set = Digits(_images(), LABELS, torch.arange(len(LABELS)), "test")
    monkeypatch.setattr(service, "load", lambda folder: ThreesAsEights())
    monkeypatch.setattr(datasets, "load", lambda name, split=None: test_set)
    code, out, _ = digitlab(capsys, "evaluate", "some-model", "--dataset", "mnist")
    assert code == 0
    assert "actual \\ predicted" in out
    rows = {}
    for line in out.splitlines():
        cells = [c.strip().replace("[bold]", "") for c in line.strip("│| ").split("│")]
        if len(cells) == 11 and all(c.isdigit() for c in cells):
            rows[int(cells[0])] = [int(c) for c in cells[1:]]
    assert sorted(rows) == list(range(10)), out
    _assert_threes_read_as_eights([rows[d] for d in range(10)])
    assert f"accuracy {18 / 21:.2%} on 21 test images" in out


def test_the_reports_table_puts_actual_on_the_rows_and_predicted_on_the_columns():
    scores = service.evaluate(ThreesAsEights(), _images(), LABELS, worst=3)
    result = types.SimpleNamespace(method="stub", task="0-9", classes=list(range(10)), confusion=scores["confusion"])
    table = confusion.confusion_table(result)
    header = re.findall(r'<th scope="col">(\d)</th>', table)
    rows = re.findall(r'<tr><th scope="row">(\d)</th>(.*?)</tr>', table)
    assert "actual \\ predicted" in table and header == [str(d) for d in range(10)]
    assert [int(digit) for digit, _ in rows] == list(range(10))
    drawn = [[int(n) for n in re.findall(r">(\d+)</td>", cells)] for _, cells in rows]
    _assert_threes_read_as_eights(drawn)
    assert "<figcaption>Most often: 3 read as 8 (3 times).</figcaption>" in table


# A hand-made 4 x 4 matrix whose misreadings are lopsided: 1 read as 2 twelve times, 2 as 1 once.
LOPSIDED = [[90, 0, 0, 5],
            [0, 80, 12, 0],
            [0, 1, 85, 0],
            [8, 0, 0, 70]]


def test_the_largest_confusions_are_read_from_rows_actual_columns_predicted_most_first():
    assert metrics.largest_confusions(LOPSIDED, [0, 1, 2, 3]) == [(1, 2, 12), (3, 0, 8), (0, 3, 5)]
    assert metrics.largest_confusions(torch.tensor(LOPSIDED), [3, 5, 7, 9], shown=2) == [(5, 7, 12), (9, 3, 8)]
    assert (confusion.confusions_sentence(LOPSIDED, [0, 1, 2, 3])
            == "Most often: 1 read as 2 (12 times), 3 as 0 (8), 0 as 3 (5).")
    assert confusion.confusions_sentence([[5, 1], [0, 7]], [3, 7]) == "Most often: 3 read as 7 (1 time)."
    assert confusion.confusions_sentence([[5, 0], [0, 7]], [3, 7]) == "No test digit was misread."


def test_a_single_misreading_is_plainly_tinted_and_more_are_darker():
    """Beside a diagonal of about a thousand and a largest misreading of 500, counts of 1 to 5 still
    stand out from white (a channel at least 60 below 255), orange, each darker than the last."""
    white, _ = confusion.tint(0, diagonal=False, top=500)
    assert white == (255, 255, 255)
    tints = [confusion.tint(n, diagonal=False, top=500)[0] for n in range(1, 6)]
    for (r, g, b), darker in zip(tints, tints[1:]):
        assert 255 - min(r, g, b) >= 60 and r > b  # orange: red above blue
        assert sum(darker) < r + g + b
    (r, g, b), _ = confusion.tint(1000, diagonal=True, top=1000)
    assert b > r  # the right answers are blue


def test_every_cells_number_stands_out_from_its_tint():
    """WCAG's contrast ratio between a cell's number and its background is at least 4.5 at every count."""
    def contrast(a, b):
        light, dark = sorted((confusion._luminance(a), confusion._luminance(b)), reverse=True)
        return (light + 0.05) / (dark + 0.05)

    for diagonal in (True, False):
        for count in range(0, 1001):
            background, _ = confusion.tint(count, diagonal, top=1000)
            ink = (255, 255, 255) if confusion.ink(background) == "#fff" else (0, 0, 0)
            assert contrast(background, ink) >= 4.5, (diagonal, count, background)
