"""The notebooks in notebooks/ run end to end on a real IPython kernel (nbclient), offline, and show
what the book shows: its numbers, one figure per plot, no stray `<Axes ...>` reprs, quiet data.

Each runs with DIGITLAB_NOTEBOOK_QUICK=1, the short path every notebook flags for its long cells
(resnet18 trains on MNIST_TINY or a slice instead of all the images). The `.py` files (Jupytext's
percent format) are the source; the `.ipynb` beside each must hold the same cells.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
jupytext = pytest.importorskip("jupytext")

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# gv draws with Graphviz where both its Python package and its `dot` program are installed
GRAPHVIZ = shutil.which("dot") is not None and importlib.util.find_spec("graphviz") is not None


def execute(name: str):
    """The notebook from `name`.py, run top to bottom in a fresh kernel with the short path on."""
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MPLBACKEND", raising=False)  # the kernel's own inline backend, as in Jupyter
        mp.setenv("DIGITLAB_NOTEBOOK_QUICK", "1")
        client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                         resources={"metadata": {"path": str(NOTEBOOKS)}})
        client.execute()
    return nb


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def cell(nb, starts: str):
    """The one code cell whose source starts with `starts`."""
    found = [c for c in code_cells(nb) if c.source.startswith(starts)]
    assert len(found) == 1, (starts, len(found))
    return found[0]


def shown(c) -> str:
    """What a cell shows as text: its printed streams and the text form of its results."""
    parts = []
    for out in c.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data") and "image/png" not in out.data:
            parts.append(out.data.get("text/plain", ""))
    return ANSI.sub("", "".join(parts))


def images(c) -> int:
    return sum(1 for out in c.outputs if "image/png" in out.get("data", {}))


def results(c) -> list:
    return [out for out in c.outputs if out.output_type == "execute_result"]


def table(c) -> list[tuple[float, ...]]:
    """The Learner's table rows in a cell's output: (train_loss, valid_loss, metric)."""
    rows = re.findall(r"^\s*\d+\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+\d\d:\d\d\s*$", shown(c), re.M)
    return [tuple(float(x) for x in row) for row in rows]


@pytest.mark.parametrize("source", sorted(NOTEBOOKS.glob("*.py")), ids=lambda p: p.stem)
def test_each_notebook_is_its_paired_source(source):
    paired = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    text = jupytext.read(source)
    assert [(c.cell_type, c.source) for c in paired.cells] == [(c.cell_type, c.source) for c in text.cells], (
        f"{source.with_suffix('.ipynb').name} differs from {source.name}: run `jupytext --sync {source}`"
    )
    assert all(not c.get("outputs") for c in paired.cells if c.cell_type == "code")  # committed clean


@pytest.fixture(scope="module")
def chapter():
    from digitlab import book

    book.untar_data(book.URLs.MNIST_SAMPLE)  # already there, as for anyone running it a second time
    return execute("01_mnist_basics")


def test_chapter_prints_the_books_numbers(chapter):
    assert shown(cell(chapter, "threes = ")).startswith("(#6131) [Path('train/3/10.png'),Path('train/3/10000.png')")
    assert "[  0,  93, 244, 249, 253," in shown(cell(chapter, "array(im3)[4:10,4:10]"))
    assert shown(cell(chapter, "dist_3_abs")) == "(tensor(0.1114), tensor(0.2021))"
    assert shown(cell(chapter, "dist_7_abs")) == "(tensor(0.1586), tensor(0.3021))"
    assert shown(cell(chapter, "accuracy_3s")) == "(tensor(0.9168), tensor(0.9854), tensor(0.9511))"
    linear = table(cell(chapter, "learn.fit(10, lr=lr)"))
    assert len(linear) == 10 and abs(linear[-1][2] - 0.967125) <= 0.005, linear[-1]  # the book's
    net = table(cell(chapter, "learn.fit(40, 0.1)"))
    assert len(net) == 40 and abs(net[-1][2] - 0.981845) <= 0.005, net[-1]  # the book's
    resnet = table(cell(chapter, "if QUICK:"))  # the short path: one epoch of MNIST_TINY
    assert len(resnet) == 1


def test_chapter_draws_each_figure_once_and_prints_no_stray_reprs(chapter):
    for starts in ("show_image(three_tensors[1])", "plot_function(f, 'x', 'x**2')\n",
                   "plot_function(torch.sigmoid", "show_preds(preds)", "_,axs = plt.subplots(1,4",
                   "plt.plot(L(learn.recorder.values)", "learn.recorder.plot_loss()"):
        found = [c for c in code_cells(chapter) if c.source.startswith(starts)]
        for c in found:
            assert images(c) == 1 and not results(c), (starts, c.outputs)
    for c in code_cells(chapter):
        assert "<Axes" not in shown(c) and "<Figure" not in shown(c), c.source
    assert "reusing it" not in "".join(shown(c) for c in code_cells(chapter))  # untar_data is quiet


def test_chapter_draws_the_seven_steps_with_graphviz_or_says_how_to_install_it(chapter):
    diagrams = [c for c in code_cells(chapter) if c.source.startswith("gv('''")]
    assert len(diagrams) == 2  # the seven steps, drawn twice as in the book
    for c in diagrams:
        (out,) = results(c)
        if GRAPHVIZ:
            assert "predict" in out.data["image/svg+xml"]
        else:
            assert "pip install graphviz" in out.data["text/plain"]


def test_ten_digits_worked_answer():
    nb = execute("02_ten_digits")
    # Pixel similarity with ten averages, per digit: the full-MNIST write-up's figures exactly.
    per_digit = " ".join(shown(cell(nb, "def mnist_distance")).split())
    assert per_digit == "tensor([0.8153, 0.9982, 0.4234, 0.6089, 0.6680, 0.3262, 0.7871, 0.7646, 0.4425, 0.7760])"
    means = cell(nb, "means = ")
    assert images(means) == 1 and not results(means)  # show_images: one grid, drawn once
    hand = [float(a) for a in shown(cell(nb, "def batch_accuracy")).split()]
    assert len(hand) == 5 and hand[-1] > 0.9  # the write-up's cross-entropy linear model: 91.5 %
    net = table(cell(nb, "dls = DataLoaders(dl, valid_dl)"))
    assert len(net) == 5 and net[-1][2] > 0.93  # the write-up's sigmoid net: about 95 %
    assert images(cell(nb, "learn.recorder.plot_loss()")) == 1
    assert images(cell(nb, "from digitlab import explain")) == 1 and images(cell(nb, "seven = ")) == 1
    total, logit = ast.literal_eval(shown(cell(nb, "linear_why = ")))  # contributions + bias: the 7's score
    assert abs(total - logit) <= 1e-3 and logit > 0
    assert len(table(cell(nb, "dls = ImageDataLoaders"))) == 4  # four short epochs of resnet18


def test_your_own_learner_worked_answer():
    nb = execute("03_your_own_learner")
    rows = shown(cell(nb, "start = ")).strip().splitlines()[1:]
    assert len(rows) == 10 and float(rows[-1].split()[-1]) > 0.95
    assert shown(cell(nb, "torch.testing.assert_close")) == "the same weights\n"
    assert "stopping: the metric reached" in shown(cell(nb, "class StopAt"))


def test_fastais_helpers_show_once_in_a_kernel():
    """to_np, gv, doc, lr_find and plot_loss in a kernel show what fastai's show, each once."""
    cells = [
        "from digitlab.book import *\ntorch.manual_seed(0);",
        "to_np(tensor([1., 2.]).requires_grad_())",
        "gv('a->b')",
        "doc(plot_function)",
        "dls = ImageDataLoaders.from_folder(untar_data(URLs.MNIST_TINY), seed=0)\n"
        "learn = Learner(dls, nn.Sequential(nn.Flatten(), nn.Linear(784, 2)), metrics=accuracy, progress=False)",
        "learn.lr_find(num_it=30)",
        "learn.fit(1, 0.1)\nlearn.recorder.plot_loss()",
        "show_images([tensor(Image.open(o)) for o in (untar_data(URLs.MNIST_TINY)/'train'/'3').ls()[:4]], nrows=1)",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MPLBACKEND", raising=False)
        nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    imports, to_np, gv, doc, _, lr_find, plot_loss, grid = nb.cells
    assert shown(to_np) == "array([1., 2.], dtype=float32)"
    (diagram,) = results(gv)
    assert "image/svg+xml" in diagram.data if GRAPHVIZ else "pip install graphviz" in diagram.data["text/plain"]
    assert shown(doc).startswith("plot_function(f: 'Callable'") and len(doc.outputs) == 1
    (suggested,) = results(lr_find)
    assert suggested.data["text/plain"].startswith("SuggestedLRs(lr_min=")
    assert images(lr_find) == 1  # the curve with its two suggestions marked, drawn once
    assert images(plot_loss) == 1 and not results(plot_loss)
    assert images(grid) == 1 and not results(grid)
    assert not imports.outputs and "reusing it" not in shown(grid)  # untar_data is quiet
