"""docs/architecture.md maps the whole package: every module is named in its table."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_module_of_the_package_is_on_the_map():
    page = (ROOT / "docs" / "architecture.md").read_text()
    package = ROOT / "src" / "digitlab"
    top = [p.name for p in package.glob("*.py") if p.name != "__init__.py"]
    nested = [f"{p.parent.name}/" for p in package.glob("*/__init__.py")]
    missing = [name for name in top + nested if f"`{name}`" not in page and f"`{name.rstrip('/')}" not in page]
    assert not missing, f"docs/architecture.md does not name {missing}"
