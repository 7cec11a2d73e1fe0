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
    with open(path, "rb") as f:
        return "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()


def json_fingerprint(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


LOCK_FILE = ".cocobench.lock"
LOCK_POLL_SECONDS = 5.0  # how often a waiting process tries a held lock again


def holds_files(path: str | Path) -> bool:
    """An existing directory with anything in it besides our lock file: what --overwrite is needed for."""
    path = Path(path)
    return path.is_dir() and any(p.name != LOCK_FILE for p in path.iterdir())


def remove_outputs(path: str | Path, names: tuple[str, ...]) -> None:
    """Remove these files and folders from `path` (`run --overwrite`): what a command wrote there before,
    and nothing else, so an --out that also holds the user's own files loses none of them. All or
    nothing: each is first moved into one hidden folder; one that cannot be moved (permissions, an
    immutable file) puts the others back and is a one-line error, with nothing removed."""
    path = Path(path)
    present = [name for name in names if (path / name).exists() or (path / name).is_symlink()]
    if present:
        aside = Path(tempfile.mkdtemp(dir=path, prefix=".removed.", suffix=".tmp"))
        moved: list[str] = []
        try:
            for name in present:
                os.rename(path / name, aside / name)
                moved.append(name)
        except OSError as exc:
            for done in reversed(moved):
                os.rename(aside / done, path / done)
            aside.rmdir()
            raise CocobenchError(f"cannot remove '{path / name}' ({exc.strerror}); nothing was removed: fix its permissions or remove it yourself, "
                                 "or choose another --out") from None
        shutil.rmtree(aside, ignore_errors=True)
        if aside.exists():
            raise CocobenchError(f"the old outputs of '{path}' were set aside in '{aside}' but not all could be removed; remove it yourself")
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
    """The directory is held by another live cocobench process (`holder`, its pid, None if it could not be read)."""

    def __init__(self, path: Path, holder: int | None):
        self.holder = holder
        self.who = f"pid {holder}" if holder is not None else "pid unknown"
        super().__init__(f"'{path}' is in use by cocobench ({self.who}); wait for it to finish, or choose another --out")


_HELD: dict[Path, int] = {}  # lock file -> how many nested directory_lock blocks of this process hold it
HOLDER_READ_SECONDS = 1.0  # how long to wait for a new holder to write its pid before naming it unknown


@contextlib.contextmanager
def directory_lock(path: str | Path, *, beside: bool = False, wait: bool = False) -> Iterator[Path]:
    """Hold `path` for this process alone while the block runs: an OS lock (flock, through filelock) on a
    lock file holding our pid. The OS releases it when the process dies however it dies, so a killed
    holder's lock, or a file left with any content (a reused pid, garbage), never blocks anyone. A second
    process gets a one-line error naming the holder's pid (DirectoryInUse), or with `wait` polls until the
    holder lets go; a lock this process already holds is held again (a suite locks a run's directory, then
    the run does). The lock file is `path/.cocobench.lock`; the directory is created if needed, and removed
    again if it is left empty. With `beside` it is the sibling `.NAME.lock` instead, for a directory
    replaced whole (`gen`'s atomic write): a lock inside would leave with the old directory."""
    path = Path(path)
    created = not beside and not path.exists()
    lock = path.with_name(f".{path.name}.lock") if beside else path / LOCK_FILE
    ensure_writable_dir(lock.parent)
    key = lock.resolve()
    if key in _HELD:
        _HELD[key] += 1  # ours already: the outer holder releases it
        try:
            yield path
        finally:
            _HELD[key] -= 1
        return
    held = _acquire(path, lock, wait=wait)
    _HELD[key] = 1
    try:
        yield path
    finally:
        del _HELD[key]
        # Removed while still held: a waiter that opened this file finds it unlinked once it gets the
        # lock and opens the path again (filelock checks), so two processes never hold one directory.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        held.release()
        if created:
            with contextlib.suppress(OSError):
                path.rmdir()  # only if empty: bad input leaves no empty directory behind


def _acquire(path: Path, lock: Path, *, wait: bool):
    """Take the OS lock on `lock` and write our pid into it; a held lock is DirectoryInUse, or waited for."""
    from filelock import FileLock, Timeout

    held = FileLock(lock, thread_local=False)
    deadline = time.monotonic() + HOLDER_READ_SECONDS
    while True:
        try:
            if wait:
                held.acquire(poll_interval=LOCK_POLL_SECONDS)
            else:
                held.acquire(blocking=False)
            break
        except Timeout:
            holder = _lock_holder(lock)
            if holder is not None or time.monotonic() > deadline:
                raise DirectoryInUse(path, holder) from None
            time.sleep(0.05)  # the holder has the lock but has not written its pid yet
        except FileNotFoundError:
            ensure_writable_dir(lock.parent)  # the holder we waited for removed the directory it had made
        except OSError as exc:  # a directory, a link or an unreadable file where the lock file goes
            raise CocobenchError(f"cannot lock '{path}': '{lock}' is not a lock cocobench can use ({exc.strerror or exc}); "
                                 "remove it, or choose another --out") from None
    try:
        lock.write_text(f"{os.getpid()}\n")  # so a second process can name us; any old content goes
    except BaseException:
        held.release()
        raise
    return held


def _lock_holder(lock: Path) -> int | None:
    try:
        return int(lock.read_text().strip())
    except (OSError, ValueError):
        return None  # gone, or the holder has not written its pid yet


def _alive(pid: int) -> bool:
    """Whether a process with this pid exists (a killed writer's temporaries are removed)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: no pid is that large
        return False
    except PermissionError:
        return True  # exists, another user's
    return True
