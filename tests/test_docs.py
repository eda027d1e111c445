"""The README's figures agree with the help texts that state them and with benchmarks/RESULTS.md.

Every time and accuracy the README gives must be one these tests check: a figure added to the README
without a check fails `test_every_figure_in_the_readme_is_checked`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from digitlab import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
RESULTS = (ROOT / "benchmarks" / "RESULTS.md").read_text()
RECIPES = ["fast", "medium", "best"]
# A rounded figure ("~99.4 %") agrees with a measured one when it is within this many points of it.
ACCURACY_POINTS = 0.1
# A stated time ("about 20 minutes") agrees with a measured range when within this factor of it:
# times on the shared 2 cores vary by more than that between hours (benchmarks/RESULTS.md).
TIME_FACTOR = 1.5
# What the README may state as a figure: a time, a share, a size.
FIGURE = re.compile(r"(?<![\w.])\d[\d,.]*(?:-\d[\d,.]*)? ?(?:%|ms|s|minutes?|MB|GB)(?!\w)|about an? (?:minute|hour)")
UNIT_SECONDS = {"ms": 0.001, "s": 1, "minute": 60, "minutes": 60, "hour": 3600}


def seconds(text: str) -> tuple[float, float]:
    """The range of seconds a time states: "~10 s" (10, 10), "about a minute" (60, 60), "33-44 s" (33, 44)."""
    found = re.search(r"(an?|[\d,.]+)(?:-([\d,.]+))? ?(ms|s|minutes?|hour)\b", text)
    assert found, f"no time in {text!r}"
    low, high, unit = found.groups()
    low = 1.0 if low in ("a", "an") else float(low.replace(",", ""))
    high = low if high is None else float(high.replace(",", ""))
    return low * UNIT_SECONDS[unit], high * UNIT_SECONDS[unit]


def percents(text: str) -> tuple[float, float]:
    """The range of a share: "~99.4 %" (99.4, 99.4), "99.32-99.47 %" (99.32, 99.47)."""
    found = re.search(r"([\d.]+)(?:-([\d.]+))? ?%", text)
    assert found, f"no percentage in {text!r}"
    return float(found.group(1)), float(found.group(2) or found.group(1))


def table_rows(text: str, heading: str) -> list[list[str]]:
    """The cells of the first table after `heading` (header and rule left out)."""
    section = text[text.index(heading):]
    table = section[re.search(r"^\|", section, re.M).start():].split("\n\n", 1)[0]  # a table ends at the first blank line
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]


def readme_recipes() -> dict[str, dict[str, str]]:
    """The README's recipe table: each recipe's MNIST accuracy, its time on 2 CPU cores, its H100 figure."""
    rows = {}
    for cells in table_rows(README, "| `--recipe` |"):
        name = re.match(r"`(\w+)`", cells[0]).group(1)
        rows[name] = {"accuracy": cells[1], "cpu time": cells[2], "gpu": cells[3]}
    return rows


def help_text(command: str) -> str:
    """`digitlab COMMAND --help` as one line (argparse wraps it to the terminal's width)."""
    parser = cli.build_parser()
    subcommands = next(a for a in parser._actions if a.dest == "command")
    return " ".join(subcommands.choices[command].format_help().split())


def help_recipes() -> dict[str, dict[str, str]]:
    """What `digitlab train --help` says of each recipe, in the README table's words."""
    text = help_text("train")
    figures = {}
    for name in RECIPES:
        said = re.search(rf"\b{name} \((.*?)\)(?: or|;| medium)", text).group(1)
        figures[name] = {
            "accuracy": re.search(r"~[\d.]+ %", said).group(0),
            "cpu time": re.search(r"~\d+ s|about (?:an? |\d+ )(?:minutes?|hour)", said).group(0),
        }
    gpu = re.search(r"on an H100 GPU (~[\d.]+ %), (~[\d.]+ %) and (~[\d.]+ %) in ([\d.]+ s), ([\d.]+ s) and "
                    r"([\d.]+ s) of training", text)
    for k, name in enumerate(RECIPES):
        figures[name]["gpu"] = f"{gpu.group(1 + k)} in {gpu.group(4 + k)}"
    return figures


def results_recipes() -> dict[str, dict[str, str]]:
    """RESULTS.md's "Choosing a recipe" table: the measured figures behind the help's and README's."""
    return {cells[0]: {"accuracy": cells[1], "cpu time": cells[2], "gpu": cells[3]}
            for cells in table_rows(RESULTS, "## Choosing a recipe")}


def test_the_readers_read_times_and_shares():
    assert seconds("about 20 minutes") == (1200, 1200)
    assert seconds("about a minute") == (60, 60)
    assert seconds("~10 s") == (10, 10)
    assert seconds("8.5-10.3 s") == (8.5, 10.3)
    assert seconds("1,097 s") == (1097, 1097)
    assert seconds("13-18 minutes") == (780, 1080)
    assert percents("99.32-99.47 %") == (99.32, 99.47)
    assert percents("~99.55 % in 0.5 s") == (99.55, 99.55)
    assert set(readme_recipes()) == set(help_recipes()) == set(results_recipes()) == set(RECIPES)


@pytest.mark.parametrize("recipe", RECIPES)
def test_the_readme_says_of_each_recipe_what_train_help_says(recipe):
    assert readme_recipes()[recipe] == help_recipes()[recipe]


def agrees(claim: tuple[float, float], measured: tuple[float, float], slack: float = 0.0, factor: float = 1.0) -> bool:
    """Whether a stated figure lies within the measured range, give or take `slack` (or the factor)."""
    return measured[0] / factor - slack <= claim[0] and claim[1] <= measured[1] * factor + slack


@pytest.mark.parametrize("recipe", RECIPES)
def test_the_readme_recipe_figures_agree_with_the_measurements(recipe):
    said, measured = readme_recipes()[recipe], results_recipes()[recipe]
    assert agrees(percents(said["accuracy"]), percents(measured["accuracy"]), slack=ACCURACY_POINTS), (said, measured)
    assert agrees(seconds(said["cpu time"]), seconds(measured["cpu time"]), factor=TIME_FACTOR), (said, measured)
    assert agrees(percents(said["gpu"]), percents(measured["gpu"]), slack=ACCURACY_POINTS), (said, measured)
    gpu_time = measured["gpu"].split(" in ")[1]
    assert agrees(seconds(said["gpu"].split(" in ")[1]), seconds(gpu_time), factor=TIME_FACTOR), (said, measured)


def compare_time() -> str:
    """The README's time for the main job, `digitlab compare`."""
    return re.search(r"main job\s*\(([^)]*?about [\d.]+ (?:s|minutes)[^)]*)\)", README).group(1)


def test_the_main_jobs_time_agrees_with_the_measurements():
    section = RESULTS[RESULTS.index("## The main job at its best"):]
    section = section[:section.index("\n## ", 1)]
    measured = [float(s) for s in re.findall(r"The whole job: \*\*([\d.]+) s wall\*\*", section)][-1]  # the latest
    said = seconds(re.search(r"about [\d.]+ (?:s|minutes)", compare_time()).group(0))
    assert agrees(said, (measured, measured), factor=TIME_FACTOR), (compare_time(), measured)


def test_every_figure_in_the_readme_is_checked():
    """Only the recipe table and the main job's time hold figures; each is checked above."""
    rows = [m.start() for m in re.finditer(r"^\| `(?:fast|medium|best)`", README, re.M)]
    spans = [(start, README.index("\n", start)) for start in rows]
    spans.append((README.index(compare_time()), README.index(compare_time()) + len(compare_time())))
    tags = [(tag.start(), tag.end()) for tag in re.finditer(r"<[^>]*>", README)]  # an image's width="49%"
    for figure in FIGURE.finditer(README):
        if any(start <= figure.start() < end for start, end in tags):
            continue
        assert any(start <= figure.start() < end for start, end in spans), \
            f"README figure {figure.group(0)!r} is checked by no test: {README[figure.start() - 60:figure.end() + 20]!r}"


def test_ci_runs_the_readmes_test_command_verbatim():
    commands = re.findall(r"```bash\n(.*?)\n```", README, re.S)
    tests = [c for c in commands if c.endswith("pytest -q -n 2")]
    assert len(tests) == 1, commands
    assert tests[0] in (ROOT / ".ci" / "run").read_text().splitlines()
