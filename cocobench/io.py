"""Atomic file and directory writes, and content fingerprints.

Every result, data split and checkpoint goes through here so that an interrupted process never
leaves a half-written file behind: we write to a temporary sibling, then rename (atomic on POSIX).
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cocobench.errors import CocobenchError


def ensure_writable_dir(path: str | Path) -> Path:
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CocobenchError(f"cannot create directory '{path}': {exc.strerror}; choose another --out") from None
    if not os.access(path, os.W_OK):
        raise CocobenchError(f"directory '{path}' is not writable; choose another --out")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise CocobenchError(f"cannot write the file '{path}': it is a directory; pass a file path")
    ensure_writable_dir(path.parent)
    with _creating(path):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temporary_prefix(path), suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        remove_dead_temporaries(path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise_if_disk_full(exc, path)
        raise


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces `path` whole (old contents removed)."""
    path = Path(path)
    ensure_writable_dir(path.parent)
    with _creating(path):
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=_temporary_prefix(path), suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~_umask())
    old = path.with_name(f".{path.name}.old")
    set_aside = False
    try:
        yield tmp
        if os.path.lexists(path):
            # Two renames so a crash leaves either the old or the new directory, never a mix.
            _remove(old)
            os.replace(path, old)
            set_aside = True
            os.replace(tmp, path)
            set_aside = False
            _remove(old)  # a symbolic link set aside is unlinked (rmtree refuses links)
        else:
            os.replace(tmp, path)
        remove_dead_temporaries(path)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if set_aside:  # the new directory never arrived: put the old one back where it was
            os.replace(old, path)
        raise_if_disk_full(exc, path)
        raise


def _remove(path: Path) -> None:
    """Remove a file, a symbolic link or a directory tree, if there is one."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]  # short: names have a length limit


def _writer() -> str:
    return f"{_host()}-{os.getpid()}"


def _temporary_prefix(path: Path) -> str:
    """`.NAME.HOST-PID.`: a temporary names its writer, so that a later write of NAME can tell the
    temporaries of a killed writer (gone from this host) from those of one still writing."""
    return f".{path.name}.{_writer()}."


def remove_dead_temporaries(path: str | Path) -> None:
    """Remove the `.NAME.HOST-PID.*.tmp` files and folders that killed writers of `path` left: this
    host's, of processes that no longer exist. Another host's, or a live process's, are left alone."""
    path = Path(path)
    host, ours = _host(), os.getpid()
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        writer = leftover.name[len(path.name) + 2:].rsplit(".", 2)[0]  # HOST-PID (mkstemp adds .RANDOM.tmp)
        writer_host, _, pid = writer.rpartition("-")
        if writer_host == host and pid.isdigit() and int(pid) != ours and not _alive(int(pid)):
            _remove(leftover)


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def _creating(path: Path) -> Iterator[None]:
    """Creating the temporary sibling of `path`: a directory that takes no files (read-only, a virtual
    file system, or one os.access calls writable for root) is one line, as a full disk is."""
    try:
        yield
    except OSError as exc:
        raise_if_disk_full(exc, path)
        raise CocobenchError(f"cannot write in '{path.parent}' ({exc.strerror or exc}); choose another --out") from None


def raise_if_disk_full(exc: BaseException, path: Path) -> None:
    """A full disk (or quota) while writing `path` is the user's to fix: one line naming the directory.
    The atomic writers call this after removing their temporary file, so nothing partial is left."""
    # torch.save and safetensors report the OS error inside their own exceptions, as text
    if (isinstance(exc, OSError) and exc.errno in DISK_FULL) or (isinstance(exc, Exception) and "No space left on device" in str(exc)):
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "No space left on device"
        raise CocobenchError(
            f"no space left on the device writing '{path}' ({reason}); free space in '{path.parent}' "
            "and run the command again (`cocobench run --out DIR --resume` continues a run from its last checkpoint)"
        ) from None


def recover_directory(path: str | Path) -> None:
    """Finish what a killed `atomic_directory` left: a kill between its two renames leaves the old
    directory set aside as `.NAME.old` and no NAME (put it back); a kill while writing leaves a
    `.NAME.*.tmp` directory (remove it). For a directory only one process writes."""
    path = Path(path)
    old = path.with_name(f".{path.name}.old")
    if old.is_dir() and not path.exists():
        os.replace(old, path)
    if path.parent.is_dir():
        for leftover in path.parent.glob(f".{path.name}.*.tmp"):
            shutil.rmtree(leftover, ignore_errors=True)


def file_fingerprint(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def json_fingerprint(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


LOCK_FILE = ".cocobench.lock"
LOCK_POLL_SECONDS = 5.0  # how often a waiting process looks at a held lock again


def holds_files(path: str | Path) -> bool:
    """An existing directory with anything in it besides our lock file: what --overwrite is needed for."""
    path = Path(path)
    return path.is_dir() and any(p.name != LOCK_FILE for p in path.iterdir())


def remove_outputs(path: str | Path, names: tuple[str, ...]) -> None:
    """Remove these files and folders from `path` (`run --overwrite`): what a command wrote there before,
    and nothing else, so an --out that also holds the user's own files loses none of them."""
    for name in names:
        target = Path(path) / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
    remove_temporaries(path, names)


def remove_temporaries(path: str | Path, names: tuple[str, ...]) -> None:
    """Remove what killed atomic writes of these names left in `path`: `.NAME.*.tmp` files and folders
    (results.json's, config.yaml's, ...). For a directory only this process writes (it holds the lock)."""
    for name in names:
        for leftover in Path(path).glob(f".{name}.*.tmp"):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)


class DirectoryInUse(CocobenchError):
    """The directory is held by another live cocobench process (`holder`, its pid)."""

    def __init__(self, path: Path, holder: int):
        super().__init__(f"'{path}' is in use by cocobench (pid {holder}); wait for it to finish, or choose another --out")
        self.holder = holder


@contextlib.contextmanager
def directory_lock(path: str | Path, *, beside: bool = False, wait: bool = False) -> Iterator[Path]:
    """Hold `path` for this process alone while the block runs: a lock file, made with O_EXCL, holding
    our pid. A second process gets a one-line error (DirectoryInUse), or with `wait` polls until the
    holder lets go; the lock of a process that no longer exists (a kill) is taken over, and a lock this
    process already holds is held again (a suite locks a run's directory, then the run does). The lock
    file is `path/.cocobench.lock`; the directory is created if needed, and removed again if it is left
    empty. With `beside` it is the sibling `.NAME.lock` instead, for a directory replaced whole (`gen`'s
    atomic write): a lock inside would leave with the old directory."""
    path = Path(path)
    lock = path.with_name(f".{path.name}.lock") if beside else path / LOCK_FILE
    if _lock_holder(lock) == os.getpid():
        yield path  # ours already: the outer holder releases it
        return
    created = not beside and not path.exists()
    ensure_writable_dir(lock.parent)
    stale_removals = 0
    while not _link_lock(lock):
        holder = _lock_holder(lock)
        if holder is not None and _alive(holder):
            if not wait:
                raise DirectoryInUse(path, holder)
            time.sleep(LOCK_POLL_SECONDS)
            continue
        if lock.is_dir() and not lock.is_symlink():  # not ours to remove: someone made it by hand
            raise CocobenchError(f"the lock '{lock}' is a directory, not a cocobench lock file; remove it and run the command again")
        stale_removals += 1  # a stale lock is removed, then taken; another process may win that race
        if stale_removals > 3:
            raise CocobenchError(f"could not lock '{path}': another process keeps taking it; choose another --out")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        if created:
            with contextlib.suppress(OSError):
                path.rmdir()  # only if empty: bad input leaves no empty directory behind


def _link_lock(lock: Path) -> bool:
    """Create `lock` holding our pid, or return False if it exists. The pid is written first and the
    file then hard-linked into place (atomic, like O_EXCL), so no one ever reads a lock without its pid."""
    with _creating(lock):
        fd, tmp = tempfile.mkstemp(dir=lock.parent, prefix=f"{lock.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")
        os.link(tmp, lock)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def _lock_holder(lock: Path) -> int | None:
    try:
        return int(lock.read_text().strip())
    except (OSError, ValueError):
        return None  # unreadable or half-written: treated as stale


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: no pid is that large (a damaged lock)
        return False
    except PermissionError:
        return True  # exists, another user's
    return True
