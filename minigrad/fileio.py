"""Writing files so that a crash, a kill or a full disk never leaves one half-written.

Every file minigrad writes for the user (checkpoints, metrics.csv, curves.png) is written to a
temporary file beside the destination, flushed and fsynced, then renamed over it: readers see
the old file or the new one, never a mixture. A process killed mid-write leaves its temporary
file behind (named ``.<name>.<random>.tmp<suffix>``); ``stale_temporaries`` finds them.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "fsync_dir", "stale_temporaries"]

# mkstemp creates files readable by the owner only; the files users keep get the permissions
# open() would have given them. (Read once: os.umask can only be read by setting it.)
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_write(path, suffix: str = ""):
    """Yield a temporary path beside ``path``; on a clean exit it replaces ``path`` atomically.

    Args:
        path: the destination.
        suffix: appended to the temporary name after ``.tmp`` (``".png"`` for writers that pick
            the format from the extension).

    On any exception (Ctrl-C and ``OSError: File too large`` included) the temporary file is
    removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{suffix}")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
    finally:
        os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory) -> None:
    """Make a rename durable; not every platform can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def stale_temporaries(directory, names) -> list[Path]:
    """Temporary files ``atomic_write`` left in ``directory`` for the destinations ``names``.

    Also matches ``.metrics.csv.tmp``, the fixed name earlier versions used.
    """
    pattern = re.compile(r"\.(%s)\.(.+\.)?tmp(\.\w+)?" % "|".join(re.escape(n) for n in names))
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if pattern.fullmatch(p.name) and p.is_file())
