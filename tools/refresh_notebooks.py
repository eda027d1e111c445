"""Run the notebooks in notebooks/ and store their outputs in the committed .ipynb files.

    python tools/refresh_notebooks.py            # all of them, on the quick path (about 2 minutes)
    python tools/refresh_notebooks.py 01_mnist_basics
    python tools/refresh_notebooks.py --check    # say which stored outputs are stale; runs nothing

Each notebook's `.py` (Jupytext's percent format) is the source. This runs it top to bottom in a
fresh kernel with DIGITLAB_NOTEBOOK_QUICK=1, drops what changes from run to run without meaning
anything (cell timings, the kernel's version details), and writes the `.ipynb` with its outputs, so
that a repository page shows them. The notebook's metadata records what the outputs came from:

  digitlab.code_sha256  the code cells' text; tests/test_notebooks.py fails when it no longer
                        matches (a code cell changed since the outputs were stored)
  digitlab.src_sha256   src/digitlab's Python files, for information only: a library change that
                        alters a printed figure is caught by the tests that re-execute the notebooks
                        and compare their figures with the stored ones, not by this hash (it would
                        fail every library change, whether or not a notebook shows it)

Needs the `test` extra (nbclient, nbformat, ipykernel, jupytext).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SOURCE = ROOT / "src" / "digitlab"
QUICK_ENV = "DIGITLAB_NOTEBOOK_QUICK"
TIMEOUT_S = 600  # per cell; the longest on the quick path, 02's resnet18, took 26 to 43 s on two busy cores
# digitlab's progress lines ("digitlab: epoch 3: 16 of 57 (28 %), 5 s so far, about 13 s left") say
# how busy the machine was, not what the notebook computed: the stored outputs leave them out.
PROGRESS_LINE = re.compile(r"^digitlab: .*(?: s so far.*| in \d+ s)\n", re.M)
# Notebook metadata the kernel writes that says which Python ran it, not what the notebook shows.
VOLATILE_METADATA = ("language_info", "widgets")


def notebook_names() -> list[str]:
    """The notebooks' names: each `NN_name.py` in notebooks/."""
    return sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def code_hash(cells) -> str:
    """SHA-256 of the code cells' sources, in order (markdown edits leave it alone)."""
    sources = [c["source"] for c in cells if c["cell_type"] == "code"]
    return hashlib.sha256(json.dumps(sources).encode()).hexdigest()


def source_hash(root: Path = SOURCE) -> str:
    """SHA-256 of every Python file under `root`, by relative path and content."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def execute(name: str, quick: bool = True):
    """The notebook from notebooks/`name`.py, run top to bottom in a fresh kernel."""
    import jupytext
    import nbclient

    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    env = dict(os.environ)  # the kernel's environment: this one, with the short path set
    env.pop("MPLBACKEND", None)  # the kernel's own inline backend, as in Jupyter
    env[QUICK_ENV] = "1" if quick else "0"
    # One thread: a training cell's figures hang on the order its sums are added in, which the thread
    # count sets (01's quick resnet18 read 0.933 on one thread, 0.973 on two); the stored run and the
    # tests' runs must add alike.
    env["OMP_NUM_THREADS"] = "1"
    # this checkout's digitlab, whose sources source_hash() records, whatever else is installed; the
    # kernel starts in notebooks/, where a relative PYTHONPATH=src would find nothing
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))])
    client = nbclient.NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3", record_timing=False,
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute(env=env)
    return nb


def stamp(nb, quick: bool = True):
    """`nb` with volatile metadata dropped and the record of what its outputs came from added."""
    for key in VOLATILE_METADATA:
        nb.metadata.pop(key, None)
    nb.metadata.get("jupytext", {}).pop("text_representation", None)  # the .py's header, as Jupytext's sync leaves it
    for number, cell in enumerate(nb.cells, start=1):
        cell.id = f"cell-{number}"  # Jupytext draws random ids on every read: stable ones keep the diff to what changed
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = coalesced(cell.outputs)
    nb.metadata["digitlab"] = {"code_sha256": code_hash(nb.cells), "src_sha256": source_hash(),
                               "quick_path": quick}
    return nb


def coalesced(outputs: list) -> list:
    """`outputs` with each run of text on one stream joined into one output, progress lines left out.

    A kernel sends text as it is flushed, so one print loop can arrive as a dozen pieces; digitlab's
    console (rich) shows each of its lines in a kernel as a display of its own."""
    joined = []
    for out in outputs:
        if out.output_type == "display_data" and PROGRESS_LINE.fullmatch(out.data.get("text/plain", "").rstrip() + "\n"):
            continue
        if out.output_type == "stream" and joined and joined[-1].output_type == "stream" \
                and joined[-1].name == out.name:
            joined[-1].text += out.text
        else:
            joined.append(out)
    for out in joined:
        if out.output_type == "stream":
            out.text = PROGRESS_LINE.sub("", out.text)
    return [out for out in joined if out.output_type != "stream" or out.text]


def write(nb, name: str) -> Path:
    import nbformat

    from digitlab.store.files import atomic_write

    target = NOTEBOOKS / f"{name}.ipynb"
    with atomic_write(target, "w") as f:
        f.write(nbformat.writes(nb) + "\n")
    return target


def stale(name: str) -> str | None:
    """Why notebooks/`name`.ipynb's stored outputs are out of date, or None when they are not."""
    import jupytext
    import nbformat

    stored = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    recorded = stored.metadata.get("digitlab", {}).get("code_sha256")
    if recorded is None:
        return "no outputs stored"
    if recorded != code_hash(jupytext.read(NOTEBOOKS / f"{name}.py").cells):
        return "code cells changed since the outputs were stored"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebooks to refresh (default: all)")
    parser.add_argument("--check", action="store_true", help="only say which notebooks are stale")
    args = parser.parse_args(argv)
    names = args.names or notebook_names()
    unknown = sorted(set(names) - set(notebook_names()))
    if unknown:
        parser.error(f"no notebook named {', '.join(unknown)} in notebooks/ (there are {', '.join(notebook_names())})")
    if args.check:
        reasons = {name: stale(name) for name in names}
        for name, reason in reasons.items():
            print(f"{name}: {reason or 'fresh'}")
        return 1 if any(reasons.values()) else 0
    for name in names:
        print(f"running {name} ...", flush=True)
        print(f"wrote {write(stamp(execute(name)), name).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
