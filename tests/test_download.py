"""``minigrad.data.download`` against a local HTTP server: checksums, interrupted transfers, resume, offline."""

import hashlib
import http.server
import threading

import pytest

from minigrad import data as D

PAYLOAD = bytes(range(256)) * 40  # 10,240 bytes
MD5 = hashlib.md5(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /file, honouring Range; /cut sends half the body and hangs up; /norange ignores Range."""

    log = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        _Handler.log.append((self.path, self.headers.get("Range")))
        if self.path == "/missing":
            self.send_error(404)
            return
        start = 0
        header = self.headers.get("Range")
        if header and self.path != "/norange":
            start = int(header.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path == "/cut" and start == 0:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_verifies_and_renames(server, tmp_path):
    dest = tmp_path / "sub" / "file.bin"
    assert D.download(server + "/file", dest, MD5) == dest
    assert dest.read_bytes() == PAYLOAD and not (tmp_path / "sub" / "file.bin.part").exists()
    _Handler.log.clear()
    D.download(server + "/file", dest, MD5)  # already there and verified: no request
    assert _Handler.log == []


def test_checksum_mismatch_removes_the_file(server, tmp_path):
    dest = tmp_path / "file.bin"
    with pytest.raises(D.DataError, match=r"checksum mismatch for file.bin: md5 [0-9a-f]{32}, expected 0{32}"):
        D.download(server + "/file", dest, "0" * 32)
    assert not dest.exists() and not (tmp_path / "file.bin.part").exists()


def test_interrupted_transfer_resumes_with_range(server, tmp_path):
    dest = tmp_path / "file.bin"
    part = tmp_path / "file.bin.part"
    with pytest.raises(D.DataError, match="file.bin.part"):
        D.download(server + "/cut", dest, MD5)
    assert not dest.exists() and part.stat().st_size == len(PAYLOAD) // 2
    _Handler.log.clear()
    D.download(server + "/cut", dest, MD5)
    assert _Handler.log == [("/cut", f"bytes={len(PAYLOAD) // 2}-")]
    assert dest.read_bytes() == PAYLOAD and not part.exists()


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    dest = tmp_path / "file.bin"
    (tmp_path / "file.bin.part").write_bytes(b"garbage that is not a prefix")
    D.download(server + "/norange", dest, MD5)
    assert dest.read_bytes() == PAYLOAD


def test_http_error_and_offline(server, tmp_path):
    with pytest.raises(D.DataError, match="HTTP error 404"):
        D.download(server + "/missing", tmp_path / "x", None)
    with pytest.raises(D.DataError, match="transfer failed"):
        D.download("http://127.0.0.1:9/nothing-listens-here", tmp_path / "new" / "y", None, timeout=2)
    assert not (tmp_path / "new").exists()


def test_load_dataset_offline_says_where_to_put_files(tmp_path, monkeypatch):
    # Point every mirror at a closed local port: the download fails like it does offline.
    fake = {name: [(f, ["http://127.0.0.1:9/"], md5) for f, _, md5 in items] for name, items in D.RESOURCES.items()}
    monkeypatch.setattr("minigrad.data.datasets.RESOURCES", fake)
    root = tmp_path / "data"
    with pytest.raises(D.DataError) as info:
        D.load_dataset("mnist", "test", root=root, download=True)
    message = str(info.value)
    assert "download failed" in message and "--data-dir" in message
    # Every file of the dataset is named, not only the split that was asked for.
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        assert name in message
    assert str(root / "mnist") in message
    assert not root.exists(), "a failed download must not leave empty folders behind"
    with pytest.raises(D.DataError) as info:
        D.load_dataset("cifar10", "test", root=root, download=True)
    assert "cifar-10-batches-bin/" in str(info.value) and "data_batch_5.bin" in str(info.value)
    assert not root.exists()


def test_load_dataset_downloads_from_a_mirror(server, tmp_path, monkeypatch):
    import gzip
    import struct

    import numpy as np

    images = np.arange(2 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(2, 28, 28)
    files = {
        "t10k-images-idx3-ubyte.gz": gzip.compress(struct.pack(">iIII", 2051, 2, 28, 28) + images.tobytes()),
        "t10k-labels-idx1-ubyte.gz": gzip.compress(struct.pack(">iI", 2049, 2) + bytes([3, 8])),
    }
    source = tmp_path / "mirror"
    source.mkdir()
    for name, blob in files.items():
        (source / name).write_bytes(blob)
    fake = {"mnist": [(n, [source.as_uri() + "/"], hashlib.md5(b).hexdigest()) for n, b in files.items()]}
    monkeypatch.setattr("minigrad.data.datasets.RESOURCES", fake)
    ds = D.load_dataset("mnist", "test", root=tmp_path / "cache")
    assert list(ds.targets) == [3, 8]
    np.testing.assert_array_equal(ds.images[:, 0], images)
    assert (tmp_path / "cache" / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()


def test_cifar_archive_is_downloaded_and_extracted(tmp_path, monkeypatch):
    import io
    import tarfile

    import numpy as np

    records = np.zeros((3, 3073), np.uint8)
    records[:, 0] = [4, 0, 9]
    records[:, 1:] = np.arange(3072) % 251
    archive = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ["test_batch.bin"] + [f"data_batch_{i}.bin" for i in range(1, 6)]:
            blob = records.tobytes()
            info = tarfile.TarInfo("cifar-10-batches-bin/" + name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    fake = {"cifar10": [(archive.name, [tmp_path.as_uri() + "/"], hashlib.md5(archive.read_bytes()).hexdigest())]}
    monkeypatch.setattr("minigrad.data.datasets.RESOURCES", fake)
    root = tmp_path / "cache"
    assert not D.dataset_available("cifar10", root)
    ds = D.load_dataset("cifar10", "test", root=root)
    assert list(ds.targets) == [4, 0, 9] and ds.images.shape == (3, 3, 32, 32)
    assert (root / "cifar10" / "cifar-10-batches-bin" / "data_batch_5.bin").is_file()
    assert D.dataset_available("cifar10", root, "train")
