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


# The one service layer (service.py) makes and loads every classifier; the classifiers themselves and
# the checkpoint store below them are where those functions live.
SERVICE_ONLY = ("load", "make")


def _makes_or_loads(path: Path) -> list[str]:
    """Where `path` calls classifiers.make / classifiers.load (under any name it imports them by)."""
    import ast

    tree = ast.parse(path.read_text())
    modules_named = {"classifiers"}  # names bound to the digitlab.classifiers module
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "digitlab":
            modules_named |= {a.asname or a.name for a in node.names if a.name == "classifiers"}
        elif isinstance(node, ast.Import):
            modules_named |= {a.asname for a in node.names if a.name == "digitlab.classifiers" and a.asname}
        if isinstance(node, ast.ImportFrom) and node.module == "digitlab.classifiers":
            found += [f"{path.name}:{node.lineno} imports {a.name}" for a in node.names if a.name in SERVICE_ONLY]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in SERVICE_ONLY:
            owner = node.value
            if (isinstance(owner, ast.Name) and owner.id in modules_named) or (
                    isinstance(owner, ast.Attribute) and owner.attr == "classifiers"):
                found.append(f"{path.name}:{node.lineno} calls classifiers.{node.attr}")
    return found


def test_only_the_service_makes_and_loads_classifiers():
    assert _makes_or_loads(PACKAGE / "service.py")  # the scanner sees the calls where they belong
    elsewhere = {}
    for path in modules():
        name = path.relative_to(PACKAGE).as_posix()
        if name == "service.py" or name.startswith(("classifiers/", "store/")):
            continue
        if calls := _makes_or_loads(path):
            elsewhere[name] = calls
    assert not elsewhere, f"make and load a classifier through digitlab.service, not directly: {elsewhere}"
