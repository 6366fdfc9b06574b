"""Atomic writes: a crash never leaves a half-written cache, checkpoint or result file."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 (writers may also recreate it): a new file's mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of an .npz file, read into memory (no pickles)."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def atomic_save_npy(path: str | Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_torch_save(path: str | Path, obj: Any) -> None:
    """torch.save through a file object: given a path, torch names the archive's root folder after the
    file, here a random temporary name, and the same object would give different bytes each time."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


def nonfinite(arrays: dict) -> list[str]:
    """Names of the float tensors/arrays in ``arrays`` that hold NaN or infinity."""
    import torch

    bad = []
    for name, value in arrays.items():
        if isinstance(value, torch.Tensor):
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                bad.append(name)
        elif isinstance(value, np.ndarray) and value.dtype.kind == "f" and not np.isfinite(value).all():
            bad.append(name)
    return bad


def numpy_safe_globals() -> list:
    """What a torch-saved dict of float numpy arrays needs, under numpy 1 and numpy 2 names."""
    core = np._core if hasattr(np, "_core") else np.core  # numpy 2 / numpy 1
    reconstruct = core.multiarray._reconstruct
    allowed = [np.ndarray, np.dtype, (reconstruct, "numpy.core.multiarray._reconstruct"),
               (reconstruct, "numpy._core.multiarray._reconstruct")]
    for name in ("Float64DType", "Float32DType"):
        if hasattr(np, "dtypes") and hasattr(np.dtypes, name):
            allowed.append(getattr(np.dtypes, name))
    return allowed


LOCK_NAME = ".instrec-writer.lock"
_held: dict[str, int] = {}  # folders this process holds: nested writers of the same folder share the lock


@contextmanager
def one_writer(folder: str | Path, what: str = "folder") -> Iterator[None]:
    """Hold ``folder`` for writing: a second process that tries gets one line naming the process that holds it.

    The lock is an advisory ``flock`` on ``folder/.instrec-writer.lock``, which also records the holder's process
    id and command, and is removed when the writer is done. The kernel drops the lock when its holder exits or is
    killed, so the file a killed writer leaves is simply taken over. Re-entrant within a process; a no-op in the
    non-zero ranks of a distributed run (rank 0 writes)."""
    import fcntl
    import sys

    from instrec.errors import InstrecError

    if os.environ.get("RANK", "0") != "0" or os.environ.get("LOCAL_RANK", "0") != "0":
        yield
        return
    folder = Path(folder)
    key = str(folder.resolve())
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_NAME
    while True:
        handle = open(lock, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise InstrecError(f"{folder}: this {what} is being written by {holder}; wait for it to finish (or stop "
                               "it), or write into another folder") from None
        try:  # the holder before may have removed the file between our open and our lock: lock the one there now
            same = os.stat(lock).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()
    handle.seek(0)
    handle.truncate()
    handle.write(f"process {os.getpid()} ({' '.join(sys.argv[:6])[:200]})\n")
    handle.flush()
    _held[key] = 1
    try:
        yield
    finally:
        del _held[key]
        lock.unlink(missing_ok=True)  # while still locked: no one can hold the file we remove
        handle.close()
        if created and not any(folder.iterdir()):  # a folder made for a writer that wrote nothing
            folder.rmdir()


def writes_folder(what: str):
    """Decorate a function whose first argument is the folder it writes: it runs under :func:`one_writer`."""
    import functools

    def wrap(fn):
        @functools.wraps(fn)
        def run(folder, *args, **kwargs):
            with one_writer(folder, what):
                return fn(folder, *args, **kwargs)
        return run
    return wrap
