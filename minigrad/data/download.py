"""Resumable, checksum-verified downloads, and the official locations of the public datasets.

``download(url, dest, md5)`` streams into ``dest + ".part"``; when a ``.part`` file is left
from an interrupted transfer it asks the server for the rest with an HTTP ``Range`` request.
Only a file whose MD5 matches is renamed (atomically) to ``dest``; a mismatching one is removed.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from .errors import DataError

__all__ = ["download", "md5sum", "RESOURCES"]

# name -> list of (file name, [mirror URLs], md5) as published by the datasets' authors
# (the MNIST/Fashion-MNIST/CIFAR-10 checksums are the ones torchvision verifies too).
_MNIST_MIRRORS = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
_FASHION_MIRRORS = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
RESOURCES = {
    "mnist": [
        ("train-images-idx3-ubyte.gz", _MNIST_MIRRORS, "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", _MNIST_MIRRORS, "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", _MNIST_MIRRORS, "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", _MNIST_MIRRORS, "ec29112dd5afa0611ce80d1b7f02629c"),
    ],
    "fashion-mnist": [
        ("train-images-idx3-ubyte.gz", _FASHION_MIRRORS, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", _FASHION_MIRRORS, "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", _FASHION_MIRRORS, "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", _FASHION_MIRRORS, "bb300cfdad3c16e7a12a480ee83cd310"),
    ],
    "cifar10": [
        ("cifar-10-binary.tar.gz", ["https://www.cs.toronto.edu/~kriz/"], "c32a1d4ab5d03f1284b67883e8d87530"),
    ],
}

_CHUNK = 1 << 16


def md5sum(path, chunk: int = 1 << 20) -> str:
    """Hex MD5 of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, dest, md5: str | None = None, timeout: float = 30.0, progress=None) -> Path:
    """Fetch ``url`` into ``dest`` unless a verified copy is already there.

    Args:
        url: http(s) or file URL.
        dest: final path of the file.
        md5: expected hex MD5; None skips verification.
        timeout: socket timeout in seconds.
        progress: optional callable ``progress(bytes_so_far, total_or_None)``.

    Returns:
        ``dest`` as a ``Path``.

    Raises:
        DataError: when the server cannot be reached, the transfer breaks off (the partial
            ``.part`` file is kept so that the next call resumes), or the checksum does not
            match (the bad file is removed).
    """
    dest = Path(dest)
    if dest.exists() and (md5 is None or md5sum(dest) == md5):
        return dest
    part = Path(str(dest) + ".part")
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "minigrad"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    total, received = None, offset
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = getattr(response, "status", 200)
            if offset and status == 206:
                start = _content_range_start(response.headers.get("Content-Range"))
                if start != offset:
                    raise DataError(
                        f"download: {url}: server resumed at byte {start}, expected {offset}; "
                        f"delete {part} and retry"
                    )
                mode = "ab"
            else:
                # The server ignored the Range header: start over.
                offset, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length is not None else None
            received = offset
            # Only now that the server answers: an offline run leaves no empty folders behind.
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(part, mode) as f:
                while True:
                    block = response.read(_CHUNK)
                    if not block:
                        break
                    f.write(block)
                    received += len(block)
                    if progress is not None:
                        progress(received, total)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            # Range not satisfiable: the .part file already holds everything (or is garbage).
            pass
        else:
            raise DataError(f"download: {url}: HTTP error {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        where = f"; {part} keeps {part.stat().st_size} bytes and the next call resumes" if part.exists() else ""
        reason = getattr(exc, "reason", exc)
        raise DataError(f"download: {url}: transfer failed ({reason}){where}") from exc
    if total is not None and received < total:
        raise DataError(
            f"download: {url}: transfer interrupted after {received} of {total} bytes; "
            f"{part} is kept and the next call resumes"
        )
    if md5 is not None:
        actual = md5sum(part)
        if actual != md5:
            part.unlink()
            raise DataError(f"download: {url}: checksum mismatch for {dest.name}: md5 {actual}, expected {md5}; "
                            f"the bad file was removed")
    os.replace(part, dest)
    return dest


def _content_range_start(header) -> int:
    # "bytes 100-199/200"
    try:
        return int(header.split()[1].split("-")[0])
    except (AttributeError, IndexError, ValueError):
        return -1
