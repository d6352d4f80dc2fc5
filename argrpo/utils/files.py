"""Atomic file writes: a kill mid-write leaves the previous file (or none), never a truncated one."""
import os
import tempfile
from typing import BinaryIO, Callable, Union


def atomic_write(path: Union[str, os.PathLike], write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, flush it to disk, then rename it to
    ``path`` (``os.replace`` is atomic on POSIX and Windows). Creates the folder."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.tmp_', suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
