"""docs/architecture.md maps the whole package, and the package keeps the shape the map shows: every
module named by its path, a few modules at the root, none long."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "digitlab"
MAX_LINES = 300  # a module longer than this holds more than one concept (issue 31)
MAX_AT_ROOT = 10  # the root holds the applications and a few shared leaves; the rest lives in folders


def modules(package: Path = PACKAGE) -> list[Path]:
    return sorted(p for p in package.rglob("*.py") if "static" not in p.parts)


def test_every_module_of_the_package_is_on_the_map():
    page = (ROOT / "docs" / "architecture.md").read_text()
    names = [p.relative_to(PACKAGE).as_posix() for p in modules() if p.name != "__init__.py"]
    names += [f"{p.parent.relative_to(PACKAGE).as_posix()}/" for p in modules() if p.name == "__init__.py"
              and p.parent != PACKAGE]
    missing = [name for name in names if f"`{name}`" not in page]
    assert not missing, f"docs/architecture.md does not name {missing}"


def test_no_module_is_longer_than_the_limit():
    lengths = {p.relative_to(PACKAGE).as_posix(): len(p.read_text().splitlines()) for p in modules()}
    assert len(lengths) > 40 and lengths["cli.py"] > 10  # it read the package
    too_long = {name: n for name, n in lengths.items() if n > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}; split them by concept"


def test_the_package_root_holds_few_modules():
    at_root = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert "cli.py" in at_root
    assert len(at_root) <= MAX_AT_ROOT, f"{len(at_root)} modules at the package root: {at_root}"
