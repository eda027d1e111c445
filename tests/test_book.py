"""digitlab.book: fastai's names behave as the tutorials expect, and fastai's other names say clearly
that they are not here."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from digitlab import book
from digitlab.data import shipped_mnist  # noqa: E402
from digitlab.store.files import home  # noqa: E402
from digitlab.errors import DataError, DigitlabError  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    return book.untar_data(book.URLs.MNIST_TINY)


@pytest.fixture
def base_path():
    """Restores Path.BASE_PATH, which a test sets as the tutorials do."""
    saved = book.Path.BASE_PATH
    yield
    book.Path.BASE_PATH = saved


def test_all_names_exist_and_are_what_the_tutorials_expect():
    assert len(set(book.__all__)) == len(book.__all__)
    star: dict = {}
    exec("from digitlab.book import *", star)  # what a tutorial's first line gets
    assert set(star) - {"__builtins__"} == set(book.__all__)
    assert book.F is torch.nn.functional and book.np is np and book.array is np.array
    assert book.cnn_learner is book.vision_learner


def test_L_shows_length_and_first_twenty_items_like_fastai():
    letters = book.L(enumerate("abcdefghijklmnopqrstuvwxyz"))
    assert repr(letters).startswith("(#26) [(0, 'a'),(1, 'b'),")
    assert repr(letters).endswith("(19, 't')...]")
    assert repr(book.L([1, 2])) == "(#2) [1,2]"
    assert book.L("abc") == ["abc"] and book.L() == [] and book.L(1, 2) == [1, 2]


def test_L_itemgot_map_sorted_and_indexing():
    values = book.L([[0.5, 0.1, 0.9], [0.4, 0.2, 0.95]])  # like learn.recorder.values
    assert values.itemgot(2) == [0.9, 0.95] and isinstance(values.itemgot(2), book.L)
    assert book.L([3, 1, 2]).sorted() == [1, 2, 3]
    assert book.L([1, 2, 3]).map(lambda x: x * 10) == [10, 20, 30]
    assert isinstance(book.L(range(30))[:3], book.L)
    assert book.L("a b c".split())[[0, 2]] == ["a", "c"]
    assert book.L([1, 2, 3])[[True, False, True]] == [1, 3]


def test_missing_fastai_names_raise_a_clear_error():
    with pytest.raises(book.NotInBook, match="fastai's L.shuffle is not part of digitlab.book"):
        book.L([1]).shuffle()
    assert not hasattr(book.L(), "shuffle")  # still an AttributeError for hasattr
    with pytest.raises(book.NotInBook, match="ClassificationInterpretation"):
        from digitlab.book import ClassificationInterpretation  # noqa: F401
    with pytest.raises(book.NotInBook, match="URLs.PETS"):
        book.URLs.PETS
    with pytest.raises(AttributeError):
        book.L()._private  # Python's own probes get a plain AttributeError
    assert issubclass(book.NotInBook, DigitlabError)


def test_untar_data_writes_fastais_layout_offline(tiny, base_path):
    assert tiny.resolve() == (home() / "book" / "mnist_tiny").resolve()  # home/book is shared (conftest)
    assert len((tiny / "train" / "3").ls()) == 346 and len((tiny / "valid" / "7").ls()) == 353
    assert book.untar_data(book.URLs.MNIST_TINY).resolve() == tiny.resolve()  # the second call reuses it
    book.Path.BASE_PATH = tiny
    assert repr(tiny) == "Path('.')"
    assert repr((tiny / "train").ls().sorted()) == "(#2) [Path('train/3'),Path('train/7')]"


def test_untar_data_into_a_folder_of_ones_choosing(tmp_path):
    path = book.untar_data(book.URLs.MNIST_TINY, data=tmp_path)
    assert path == tmp_path / "mnist_tiny" and (path / "labels.csv").is_file()
    assert len((path / "train" / "7").ls(file_exts=[".png"])) == 363


def test_untar_data_refuses_what_does_not_ship(tmp_path):
    with pytest.raises(DataError, match="offline"):
        book.untar_data("https://example.org/data/oxford-iiit-pet.tgz")
    with pytest.raises(DataError, match="not a folder"):
        book.Path(tmp_path / "nothing").ls()


def test_tensor_of_a_png_is_the_shipped_mnist_image(tiny):
    """fastai's train/3/7030.png is training image 7030, byte for byte."""
    from_png = book.tensor(book.Image.open(tiny / "train" / "3" / "7030.png"))
    images, _ = shipped_mnist.mnist_arrays("train")
    assert from_png.dtype == torch.uint8 and from_png.shape == (28, 28)
    assert torch.equal(from_png, torch.from_numpy(images[7030]))
    assert book.Image.open(tiny / "train" / "3" / "7030.png").shape == (28, 28)
    assert torch.equal(book.tensor([1, 2]), torch.tensor([1, 2])) and book.tensor(3).ndim == 0


def test_first_and_the_dataloader_of_the_tutorials():
    dl = book.DataLoader(book.L(enumerate("abcdefg")), batch_size=3)
    xb, yb = book.first(dl)
    assert torch.equal(xb, torch.tensor([0, 1, 2])) and yb == ("a", "b", "c")
    assert book.first([], None) is None and book.first([1, 2, 3], lambda x: x > 1) == 2


def test_pilimage_reads_through_the_one_decoder_and_its_limits(tiny, tmp_path):
    import io

    from PIL import Image

    from digitlab.errors import DataError, NotAnImage
    from digitlab.vision import decoding

    from_bytes = book.PILImage.create((tiny / "train" / "3" / "7030.png").read_bytes())
    assert from_bytes.size == (28, 28) and isinstance(from_bytes, book.PILImage)
    wide = io.BytesIO()
    Image.new("L", (3000, 1000), 200).save(wide, "PNG")
    assert book.PILImage.create(wide.getvalue()).size == (3000, 1000)  # fastai keeps the size: no shrinking
    side = int((decoding.MAX_DECODE_BYTES / 4) ** 0.5) + 1  # an RGB image one row past the decoder's budget
    huge = io.BytesIO()
    Image.new("RGB", (side, side)).save(huge, "PNG")
    with pytest.raises(DataError, match="too large to read"):
        book.PILImage.create(huge.getvalue())
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(NotAnImage, match="notes.png: not a readable image"):
        book.PILImage.create(tmp_path / "notes.png")
    with pytest.raises(DataError, match="gone.png: no such image file"):
        book.PILImage.create(tmp_path / "gone.png")


def test_pictures_draw_without_a_screen(tiny):
    image = book.PILImage.create(tiny / "train" / "3" / "7030.png")
    assert image.mode == "RGB" and image.shape == (28, 28)
    assert image.show(figsize=(2, 2)).images  # drawn on matplotlib axes, not an image viewer
    # Neither returns anything, as in fastai: Jupyter would show a returned Figure twice, and an
    # Axes as an `<Axes ...>` line.
    assert book.show_images([torch.rand(28, 28)] * 5, nrows=2, titles=list("abcde")) is None
    fig = book.plt.gcf()
    assert len(fig.axes) == 6 and fig.axes[0].get_title() == "a"
    assert book.plot_function(torch.sigmoid, title="Sigmoid", min=-4, max=4) is None
    xs, ys = book.plt.gca().lines[0].get_data()
    torch.testing.assert_close(torch.as_tensor(ys), torch.sigmoid(torch.as_tensor(xs)))
    assert book.show_image(torch.rand(1, 28, 28)).images[0].get_array().shape == (28, 28)
    with pytest.raises(book.NotInBook, match="PILImage.to_thumb"):
        image.to_thumb(10)
    book.plt.close("all")


def test_image_dataloaders_from_folder(tiny):
    dls = book.ImageDataLoaders.from_folder(tiny, bs=64, seed=0)
    assert dls.vocab == ["3", "7"] and dls.c == 2
    xb, yb = book.first(dls.train)
    assert xb.shape == (64, 1, 28, 28) and xb.dtype == torch.float32 and float(xb.max()) <= 1
    assert set(yb.tolist()) <= {0, 1}
    assert len(dls.train) == 709 // 64  # fastai drops the last partial training batch
    assert sum(len(y) for _, y in dls.valid) == 699
    with pytest.raises(book.NotInBook, match="item_tfms"):
        book.ImageDataLoaders.from_folder(tiny, item_tfms=None)


def test_vision_learner_trains_resnet18_from_scratch_and_refuses_pretrained_weights(tiny):
    dls = book.ImageDataLoaders.from_folder(tiny, seed=0)
    with pytest.raises(DigitlabError, match="pretrained=False"):
        book.vision_learner(dls, book.resnet18)  # fastai's default asks for pretrained weights
    images, targets = dls.train.dataset
    few = book.DataLoaders(  # two training steps and one validation batch keep this quick
        book.DataLoader((images[:128], targets[:128]), batch_size=64, shuffle=True, seed=0),
        book.DataLoader((images[-64:], targets[-64:]), batch_size=64),
    )
    torch.manual_seed(0)
    learn = book.cnn_learner(few, book.resnet18, pretrained=False, n_out=dls.c, metrics=book.accuracy)
    assert learn.loss_func is book.F.cross_entropy
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on a shared two-core machine one thread is the quickest
    try:
        learn.fit_one_cycle(1, 0.1)
    finally:
        torch.set_num_threads(threads)
    (train_loss, valid_loss, acc), = learn.recorder.values
    assert np.isfinite([train_loss, valid_loss]).all()
    learn.model.eval()
    with torch.no_grad():  # the recorded accuracy is the trained model's on the one validation batch
        predicted = learn.model(images[-64:]).argmax(dim=1)
    assert acc == pytest.approx((predicted == targets[-64:]).float().mean().item())
    with pytest.raises(book.NotInBook, match="Learner.show_results"):
        learn.show_results()


def test_untar_data_is_quiet_the_second_time_and_refuses_a_layout_with_other_names(tmp_path, capfd):
    path = book.untar_data(book.URLs.MNIST_TINY, data=tmp_path)
    capfd.readouterr()
    assert book.untar_data(book.URLs.MNIST_TINY, data=tmp_path) == path
    assert capfd.readouterr() == ("", "")  # fastai's untar_data says nothing when it has the data
    # An mnist_tiny from before its files were fastai's: the right count, other names.
    (path / "train" / "3" / "7030.png").rename(path / "train" / "3" / "10011.png")
    with pytest.raises(DataError, match="not a complete mnist_tiny export; remove it"):
        book.untar_data(book.URLs.MNIST_TINY, data=tmp_path)


def test_to_np_as_fastai():
    x = torch.arange(6.0, requires_grad=True).reshape(2, 3) * 2
    arr = book.to_np(x)
    assert isinstance(arr, np.ndarray) and arr.shape == (2, 3) and arr[1, 2] == 10
    pair = book.to_np((x, [x[0]]))
    assert isinstance(pair, tuple) and isinstance(pair[1], list) and isinstance(pair[1][0], np.ndarray)
    assert book.to_np({"a": x})["a"].shape == (2, 3) and book.to_np(3) == 3


def test_gv_draws_with_graphviz_or_says_how_to_install_it(monkeypatch):
    diagram = book.gv("""init->predict->loss->gradient->step->stop
step->predict[label=repeat]""")
    assert 'digraph G{ rankdir="LR"init->predict' in diagram.source
    monkeypatch.setattr("shutil.which", lambda name: None)  # no `dot` program
    missing = repr(book.gv("a->b"))
    assert "cannot draw" in missing and "pip install graphviz" in missing and "a->b" in missing


def test_doc_prints_the_signature_and_documentation(capsys):
    assert book.doc(book.plot_function) is None
    out = capsys.readouterr().out
    assert out.startswith("plot_function(f: 'Callable', tx:") and "100 points" in out
    assert "Defined in digitlab.book.pictures." in out
    book.doc(len)  # a builtin
    assert "Return the number of items" in capsys.readouterr().out


def _linear_learner(tiny):
    dls = book.ImageDataLoaders.from_folder(tiny, bs=64, seed=0)
    torch.manual_seed(0)
    model = book.nn.Sequential(book.nn.Flatten(), book.nn.Linear(784, 2))
    return book.Learner(dls, model, loss_func=book.F.cross_entropy, metrics=book.accuracy, progress=False)


def test_lr_find_plots_its_suggestions_and_returns_them_as_the_book(tiny):
    learn = _linear_learner(tiny)
    before = [p.detach().clone() for p in learn.model.parameters()]
    book.plt.close("all")
    lr_min, lr_steep = learn.lr_find(num_it=40)
    assert 1e-7 < lr_min < 10 and 1e-7 < lr_steep < 10
    assert len(book.plt.get_fignums()) == 1  # one figure, drawn in the notebook
    lines = book.plt.gca().lines
    assert len(lines) == 3 and [line.get_xdata()[0] for line in lines[1:]] == [lr_min, lr_steep]
    assert all(torch.equal(a, b) for a, b in zip(before, learn.model.parameters()))  # put back
    book.plt.close("all")
    learn.lr_find(num_it=20, show_plot=False)
    assert book.plt.get_fignums() == []


def test_plot_loss_draws_in_the_notebook_and_returns_nothing(tiny):
    learn = _linear_learner(tiny)
    learn.fit(1, 0.1)
    book.plt.close("all")
    assert learn.recorder.plot_loss() is None  # nothing for Jupyter to draw a second time
    assert len(book.plt.get_fignums()) == 1 and len(book.plt.gca().lines) == 2
    book.plt.close("all")
