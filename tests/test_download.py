"""`digitlab download` against mirrors served from this machine: one 404s, one serves damaged
files, one serves good ones gzipped differently from the shipped files."""

import gzip
import hashlib
import http.server
import socket
import threading

import pytest

from digitlab.cli import main
from digitlab.data import datasets, download, idx, shipped_mnist
from digitlab.errors import DataError
from digitlab.store.files import home


@pytest.fixture(scope="module")
def mirrors():
    originals = {
        name: idx.read_bytes(shipped_mnist.shipped_dir() / name) for name in download.FILES
    }  # decompressed IDX bytes
    routes = {}
    for name, raw in originals.items():
        routes[f"/good/{name}"] = gzip.compress(raw, compresslevel=1)  # not the shipped gzip bytes
        routes[f"/corrupt/{name}"] = gzip.compress(raw[:1000])  # a whole gzip of the wrong bytes
        routes[f"/truncated/{name}"] = routes[f"/good/{name}"][:1000]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = routes.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    yield {kind: f"{base}/{kind}/" for kind in ("missing", "corrupt", "truncated", "good")}, originals
    server.shutdown()
    server.server_close()


def test_falls_through_to_the_first_good_mirror(mirrors, tmp_path):
    urls, originals = mirrors
    dest = download.download(tmp_path / "mnist", [urls["missing"], urls["corrupt"], urls["good"]])
    assert sorted(p.name for p in dest.iterdir()) == sorted(download.FILES)  # no temp files left
    for name in download.FILES:
        got = (dest / name).read_bytes()
        assert got != (shipped_mnist.shipped_dir() / name).read_bytes()  # the mirror's own gzip bytes...
        assert gzip.decompress(got) == originals[name]  # ...of the very same IDX data
    loaded = datasets.load(str(dest), "valid")
    assert loaded.images.shape == (10000, 28, 28) and loaded.source == "test"


def test_every_mirror_failing_names_the_file_and_the_mirrors(mirrors, tmp_path):
    urls, _ = mirrors
    with socket.socket() as closed:  # a port nothing listens on: the connection is refused
        closed.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{closed.getsockname()[1]}/"
    tried = ["not a url", refused, urls["missing"], urls["corrupt"], urls["truncated"]]
    with pytest.raises(DataError) as err:
        download.download(tmp_path, tried, timeout=5)
    message = str(err.value)
    assert message.startswith("train-images-idx3-ubyte.gz: every mirror failed")
    assert "refused" in message.lower() and "HTTP 404" in message and "checksum mismatch" in message and "truncated gzip" in message
    assert all(url in message for url in tried) and "\n" not in message
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


def test_a_file_already_there_is_kept_when_its_checksum_is_good(mirrors, tmp_path):
    urls, originals = mirrors
    dest = download.download(tmp_path, [urls["good"]])
    before = {p.name: p.stat().st_mtime_ns for p in dest.iterdir()}
    download.download(dest, [urls["missing"]])  # would fail if it fetched anything
    assert {p.name: p.stat().st_mtime_ns for p in dest.iterdir()} == before
    # a damaged copy is fetched again
    (dest / "t10k-labels-idx1-ubyte.gz").write_bytes(b"damaged")
    download.download(dest, [urls["good"]])
    assert gzip.decompress((dest / "t10k-labels-idx1-ubyte.gz").read_bytes()) == originals[
        "t10k-labels-idx1-ubyte.gz"
    ]


def test_cli_download_and_its_errors(mirrors, tmp_path, capsys):
    urls, _ = mirrors
    dest = tmp_path / "got"
    assert main(["download", "--dest", str(dest), "--mirror", urls["good"]]) == 0
    assert capsys.readouterr().out.strip() == str(dest)
    assert main(["download", "--dest", str(tmp_path / "bad"), "--mirror", urls["corrupt"]]) == 2
    err = capsys.readouterr().err
    assert "digitlab: error: train-images-idx3-ubyte.gz: every mirror failed" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert list((tmp_path / "bad").glob("*")) == []


def test_a_destination_that_is_a_file_is_named(mirrors, tmp_path, capsys):
    urls, _ = mirrors
    (tmp_path / "taken").write_text("a file, not a folder")
    assert main(["download", "--dest", str(tmp_path / "taken"), "--mirror", urls["good"]]) == 2
    err = capsys.readouterr().err
    assert "taken: cannot write here" in err and "choose another --dest" in err and len(err.strip().splitlines()) == 1


def test_default_destination_is_under_the_cache_folder():
    assert download.default_dest().is_relative_to(home())


def test_shipped_idx_checksums_match_the_shipped_data():
    sums = download.expected_sums()
    for name in download.FILES:
        raw = idx.read_bytes(shipped_mnist.shipped_dir() / name)
        assert hashlib.sha256(raw).hexdigest() == sums[name.removesuffix(".gz")]
