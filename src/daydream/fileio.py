"""Files under a data root: written atomically (a killed job never leaves a half file that later
counts as done), and never reached through a symbolic link.

The one rule for the whole store: below a data root in use (each StoreLayout registers its
root), nothing is read, written or removed through a symbolic link, except in the experiment
definition `1_raw/`, whose files are resolved and must stay inside the root
(experiment/definition.py). A link anywhere else (a generation folder, a file in one,
responses/, a cohort folder, a log) is refused with a message naming it; removing a folder that
is a link removes the link, never what it points to. Paths are opened one component at a time
relative to the folder above (O_NOFOLLOW), so a link swapped in meanwhile is refused too; the
folders nearest the root stay open (_kept_folder), so most accesses open only the generation's
folder. The data root itself may be a link: that is the user's own choice of where the data lives."""

from __future__ import annotations

import errno
import json
import os
import secrets
import stat
import threading
from pathlib import Path

from daydream.errors import InputError

DEFINITION = "1_raw"  # its own rule: resolved, and inside the root
_ROOTS: set[str] = set()
_ROOTS_LOCK = threading.Lock()


class LinkRefused(InputError):
    """A symbolic link found where the store follows none."""


def register_root(root: str | Path) -> None:
    """A data root in use: below it, links are refused (see the module's text)."""
    with _ROOTS_LOCK:
        _ROOTS.add(os.path.abspath(root))


def _below(path: str | Path) -> tuple[str, tuple[str, ...]] | None:
    """(root, the components below it) when the path is under a registered data root (outside
    its definition folder); None otherwise."""
    absolute = os.path.abspath(path)
    for root in _ROOTS:
        if absolute.startswith(root + os.sep):
            parts = tuple(Path(absolute[len(root) + 1 :]).parts)
            if parts and parts[0] != DEFINITION:
                return root, parts
    return None


def _refused(root: str, parts: tuple[str, ...], upto: int) -> LinkRefused:
    link = Path(root, *parts[: upto + 1])
    try:
        target = os.readlink(link)
    except OSError:
        target = "?"
    return LinkRefused(
        f"is a symbolic link (to {target}): nothing under the data root is read, written or removed "
        "through a link (SECURITY.md)",
        file=link,
    )


FOLDERS_KEPT_OPEN = 2  # how far below a root folders stay open: the root, gens/, gens/<stage>/, logs/<stage>/
_KEPT: dict[tuple[str, tuple[str, ...]], int] = {}  # (root, components) -> an open descriptor of that folder
_KEPT_LOCK = threading.Lock()


def _open_root(root: str, create: bool) -> int:
    try:
        return os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        if not create:
            raise
        os.makedirs(root, exist_ok=True)  # the root itself may be anywhere, a link included
        return os.open(root, os.O_RDONLY | os.O_DIRECTORY)


def _open_child(fd: int, root: str, parts: tuple[str, ...], i: int, create: bool) -> int:
    """A descriptor of the folder parts[i] inside fd, never through a link (created when `create`)."""
    part = parts[i]
    try:
        return os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
    except FileNotFoundError:
        if not create:
            raise
        try:
            os.mkdir(part, 0o777, dir_fd=fd)
        except FileExistsError:
            pass
        return _open_child(fd, root, parts, i, create=False)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(fd, part):
            raise _refused(root, parts, i) from None
        raise


def _kept_folder(root: str, parts: tuple[str, ...], create: bool) -> int:
    """A descriptor of a folder near the root (at most FOLDERS_KEPT_OPEN components below it),
    opened once per process: a file access then opens only the folders below it. A link put in
    its place later is never followed through it (it names the folder that was checked), and a
    folder removed or replaced meanwhile is noticed by _stale and opened again."""
    fd = _KEPT.get((root, parts))
    if fd is not None:
        return fd
    fd = (
        _open_root(root, create)
        if not parts
        else _open_child(_kept_folder(root, parts[:-1], create), root, parts, len(parts) - 1, create)
    )
    with _KEPT_LOCK:
        kept = _KEPT.setdefault((root, parts), fd)
    if kept != fd:
        os.close(fd)
    return kept


def _stale(exc: OSError, root: str, parts: tuple[str, ...]) -> bool:
    """Whether an error reaching root/parts came from a kept folder removed meanwhile (a folder
    removed has no link left; over NFS, its descriptor is stale); the root's kept folders are
    then forgotten, to be opened again. Their descriptors are left open: another thread may be
    using one (closing it could hand its number to an unrelated file)."""
    if exc.errno not in (errno.ENOENT, errno.ESTALE):
        return False
    fd = _KEPT.get((root, parts[:-1][:FOLDERS_KEPT_OPEN]))
    if fd is None:
        return False
    try:
        gone = exc.errno == errno.ESTALE or os.fstat(fd).st_nlink == 0
    except OSError:
        gone = True
    if gone:
        _forget(root)
    return gone


def _forget(root: str) -> None:
    with _KEPT_LOCK:
        for key in [key for key in _KEPT if key[0] == root]:
            del _KEPT[key]


def _parent_fd(root: str, parts: tuple[str, ...], create: bool = False) -> tuple[int, bool]:
    """A descriptor of the folder holding parts[-1], reached from its kept folder one component
    at a time without following a link (created when `create`), and whether the caller closes it
    (not a kept folder)."""
    folders = parts[:-1]
    fd = _kept_folder(root, folders[:FOLDERS_KEPT_OPEN], create)
    owned = False
    try:
        for i in range(FOLDERS_KEPT_OPEN, len(folders)):
            child = _open_child(fd, root, parts, i, create)
            if owned:
                os.close(fd)
            fd, owned = child, True
        return fd, owned
    except BaseException:
        if owned:
            os.close(fd)
        raise


def _in_parent(root: str, parts: tuple[str, ...], create: bool, action):
    """action(descriptor of the folder holding parts[-1]); once more from the root when a kept
    folder turned out stale."""
    for last in (False, True):
        try:
            parent, owned = _parent_fd(root, parts, create)
            try:
                return action(parent)
            finally:
                if owned:
                    os.close(parent)
        except OSError as exc:
            if last or not _stale(exc, root, parts):
                raise


def _is_link(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def open_file(path: str | Path, flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
    """A file descriptor for path; below a data root, no component may be a link."""
    guarded = _below(path)
    if guarded is None:
        return os.open(path, flags, mode)
    root, parts = guarded

    def open_in(parent: int) -> int:
        try:
            return os.open(parts[-1], flags | os.O_NOFOLLOW, mode, dir_fd=parent)
        except OSError as exc:
            if exc.errno == errno.ELOOP or (exc.errno == errno.ENOTDIR and _is_link(parent, parts[-1])):
                raise _refused(root, parts, len(parts) - 1) from None
            raise

    return _in_parent(root, parts, bool(flags & os.O_CREAT), open_in)


def read_bytes(path: str | Path) -> bytes:
    fd = open_file(path)
    try:
        size = os.fstat(fd).st_size + 1
        data = os.read(fd, size)  # the whole file, unless it grew since
        if len(data) < size:
            return data
        chunks = [data]
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: str | Path, errors: str = "strict") -> str:
    """A UTF-8 text file (a BOM dropped)."""
    return read_bytes(path).decode("utf-8-sig", errors=errors)


def read_json_object(path: str | Path) -> dict:
    """A JSON object from a file (a generation's metadata.json, say); {} when the file is missing,
    unreadable, not JSON or not an object: generated files may be edited or cut short. A link
    where none may be is refused (LinkRefused), not taken for a missing file."""
    try:
        data = json.loads(read_bytes(path).decode("utf-8"))
    except LinkRefused:
        raise
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def exists(path: str | Path) -> bool:
    """A file or folder is there (a link, where none may be, is refused)."""
    guarded = _below(path)
    if guarded is None:
        return os.path.exists(path)
    root, parts = guarded
    try:
        info = _in_parent(root, parts, False, lambda parent: os.stat(parts[-1], dir_fd=parent, follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return False
    if stat.S_ISLNK(info.st_mode):
        raise _refused(root, parts, len(parts) - 1)
    return True


def listdir(path: str | Path) -> list[str]:
    """Names in a folder ([] when there is none)."""
    try:
        fd = open_file(path, os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return []
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | Path, text: str | bytes) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename it over `path`.
    The file gets the process's usual permissions (umask), so a shared data root stays shared.
    Below a data root no folder on the way may be a link, and a link at `path` itself is replaced
    (rename never follows it), so nothing is written anywhere else."""
    if not isinstance(text, (str, bytes)):
        raise TypeError(f"write_atomic writes text or bytes, not {type(text).__name__}")
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    path = Path(path)
    guarded = _below(path)
    if guarded is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        parent = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            _write_and_rename(parent, path.name, data)
        finally:
            os.close(parent)
    else:
        root, parts = guarded
        _in_parent(root, parts, True, lambda parent: _write_and_rename(parent, parts[-1], data))


def _write_and_rename(parent: int, name: str, data: bytes) -> None:
    tmp = f".{name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666, dir_fd=parent)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=parent)
        except FileNotFoundError:
            pass
        raise


def write_json_atomic(path: str | Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def remove_tree(path: str | Path, keep: tuple[str, ...] = ()) -> bool:
    """Remove a folder's entries (except the names in `keep`) and then the folder when it is
    empty; a folder that is a link is removed as the link, never followed, and so is every link
    inside. Returns whether the folder itself is gone."""
    guarded = _below(path)
    if guarded is None:
        raise ValueError(f"{path} is not under a data root in use")
    root, parts = guarded

    def remove_in(parent: int) -> bool:
        name = parts[-1]
        if _is_link(parent, name):
            os.unlink(name, dir_fd=parent)
            return True
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
        kept = False
        try:
            for entry in os.listdir(fd):
                if entry in keep:
                    kept = True
                    continue
                _remove_entry(fd, entry)
        finally:
            os.close(fd)
        if kept:
            return False
        os.rmdir(name, dir_fd=parent)
        return True

    return _in_parent(root, parts, False, remove_in)


def _remove_entry(dir_fd: int, name: str) -> None:
    info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if stat.S_ISDIR(info.st_mode):
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
        try:
            for entry in os.listdir(fd):
                _remove_entry(fd, entry)
        finally:
            os.close(fd)
        os.rmdir(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)
