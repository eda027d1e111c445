"""Progress where stderr is no terminal (a log, a pipe, capsys here): a long task says where it is; a short one stays quiet."""

from __future__ import annotations

import re

from digitlab import console


def test_drawing_the_stress_set_in_a_log_says_how_far_it_is_and_when_it_is_done(capsys, monkeypatch):
    from digitlab.data import stress

    monkeypatch.setattr(console, "LOG_EVERY_S", 0)  # every step "a while": a line each (5 s apart in use)
    assert not console.console.is_terminal
    stress.build(per_category=2, progress=True)  # 8 images: 4 categories, 2 each
    lines = capsys.readouterr().err.splitlines()
    steps = [re.fullmatch(r"digitlab: drawing the stress set: (\d) of 8 \((\d+) %\), \d+ s so far, about \d+ s left",
                          line) for line in lines[:-1]]
    assert all(steps), lines
    assert [int(s.group(1)) for s in steps] == list(range(1, 9))  # each step, in order
    assert [int(s.group(2)) for s in steps][-1] == 100
    assert re.fullmatch(r"digitlab: drawing the stress set: done, 8 in \d+ s", lines[-1]), lines


def test_a_task_stopped_early_says_where_it_stopped(capsys, monkeypatch):
    monkeypatch.setattr(console, "LOG_EVERY_S", 0)
    with console.progress_bar() as bar:
        task = bar.add_task("decoding a folder", total=10)
        bar.advance(task, 3)
    assert capsys.readouterr().err.splitlines() == [
        "digitlab: decoding a folder: 3 of 10 (30 %), 0 s so far, about 0 s left",
        "digitlab: decoding a folder: stopped at 3 of 10 (30 %) in 0 s"]


def test_a_task_done_within_the_first_seconds_stays_quiet(capsys):
    assert sum(console.track(range(100), "adding up", total=100)) == 4950
    assert capsys.readouterr().err == ""
