"""Driving the `digitlab` command in-process from tests, and what a user's-mistake error must look like."""

from __future__ import annotations

from digitlab import cli


def digitlab(capsys, *argv) -> tuple[int, str, str]:
    """Run `digitlab ARGV...`; return its exit code, stdout and stderr."""
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    """Exit 2 and exactly one `digitlab: error:` line naming the problem; never a traceback."""
    errors = [line for line in err.splitlines() if line.startswith("digitlab: error:")]
    assert code == 2, err
    assert len(errors) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
