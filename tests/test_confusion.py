"""The confusion matrix's orientation, scikit-learn's: rows are the actual digit, columns the predicted.

One hand-made case where the two orientations differ (three 3s read as 8, every other digit read
right), followed through `metrics.confusion_matrix`, `service.evaluate`, the table `digitlab
evaluate` prints and the report's picture. A totals-only check (sum, diagonal) cannot tell a
transposed matrix from the right one; these can.
"""

from __future__ import annotations

import types

import torch

from digitlab import metrics, service
from digitlab.report import figures
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

    test_set = types.SimpleNamespace(images=_images(), labels=LABELS, index=torch.arange(len(LABELS)))
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


def test_the_reports_picture_puts_actual_on_the_rows_and_predicted_on_the_columns():
    scores = service.evaluate(ThreesAsEights(), _images(), LABELS, worst=3)
    result = types.SimpleNamespace(method="stub", task="0-9", classes=list(range(10)), confusion=scores["confusion"])
    ax = figures.confusion_figure(result).axes[0]
    assert ax.get_ylabel() == "actual" and ax.get_xlabel() == "predicted"
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(d) for d in range(10)]
    drawn = {(round(t.get_position()[1]), round(t.get_position()[0])): int(t.get_text()) for t in ax.texts}  # (y, x)
    _assert_threes_read_as_eights([[drawn[(i, j)] for j in range(10)] for i in range(10)])
    image = ax.images[0].get_array()  # (rows, columns) as imshow draws them: row i at y = i
    assert image[3, 8] == 3 and image[8, 3] == 0
