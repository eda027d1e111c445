"""After `digitlab train` diverges, the lr it suggests is one a short check trained, and a real run at it trains."""

from __future__ import annotations

import re

from cli_run import assert_one_line_error, digitlab
from digitlab.commands import lr_advice


def test_the_candidates_are_the_default_below_the_diverged_lr_then_tenths():
    assert lr_advice.candidates(1e6, 1.0) == [1.0, 0.1, 0.01, 0.001]
    assert lr_advice.candidates(0.5, 1.0) == [0.05, 0.005, 0.0005, 5e-05]  # already below the default


def test_a_check_refuses_a_diverging_lr_and_scores_one_that_trains():
    from digitlab import service
    from digitlab.compare.tasks import load_task

    task, config = load_task("mnist_tiny"), service.make("linear").config
    assert lr_advice.check("linear", config, 1e6, task, "cpu") is None  # diverged
    assert lr_advice.check("linear", config, 1.0, task, "cpu") > 0.9  # 3 vs 7


def test_a_diverged_run_suggests_an_lr_that_then_trains(tmp_path, capsys):
    code, _, err = digitlab(capsys, "train", "linear", "--lr", "1e6", "--out", tmp_path / "a")
    assert_one_line_error(code, err, "training diverged", "--lr, now 1e+06")
    suggested = re.search(r"--lr (\S+) trains \(a short check: 2 epochs, ([\d.]+)% right", err)
    assert suggested, err
    assert float(suggested.group(2)) > 95
    # The suggestion, followed, on mnist_sample (3 vs 7): it trains. The old advice, 1e+05, reached 81.65 %.
    code, out, err = digitlab(capsys, "train", "linear", "--lr", suggested.group(1),
                              "--out", tmp_path / "b")
    assert code == 0, err
    accuracy = float(re.search(r"test accuracy ([\d.]+)%", out).group(1))
    assert accuracy > 95, out
