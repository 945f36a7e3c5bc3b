"""Files under a data root: written atomically (a killed job never leaves a half file that later
counts as done), and never reached through a symbolic link.

The one rule for the whole store: below a data root in use (each StoreLayout registers its
root), nothing is read, written or removed through a symbolic link, except in the experiment
definition `1_raw/`, whose files are resolved and must stay inside the root
(experiment/definition.py). A link anywhere else (a generation folder, a file in one,
responses/, a cohort folder, a log) is refused with a message naming it; removing a folder that
is a link removes the link, never what it points to. Paths are opened one component at a time
relative to the folder above (O_NOFOLLOW), so a link swapped in meanwhile is refused too. The
data root itself may be a link: that is the user's own choice of where the data lives."""

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


def _parent_fd(root: str, parts: tuple[str, ...], create: bool = False) -> int:
    """A descriptor of the folder holding parts[-1], reached from the root one component at a
    time without following a link (created when `create`)."""
    if create:
        os.makedirs(root, exist_ok=True)  # the root itself may be anywhere, a link included
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i, part in enumerate(parts[:-1]):
            try:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(part, 0o777, dir_fd=fd)
                except FileExistsError:
                    pass
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(fd, part):
                    raise _refused(root, parts, i) from None
                raise
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
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
    parent = _parent_fd(root, parts, create=bool(flags & os.O_CREAT))
    try:
        return os.open(parts[-1], flags | os.O_NOFOLLOW, mode, dir_fd=parent)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno == errno.ENOTDIR and _is_link(parent, parts[-1])):
            raise _refused(root, parts, len(parts) - 1) from None
        raise
    finally:
        os.close(parent)


def read_bytes(path: str | Path) -> bytes:
    fd = open_file(path)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


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
        parent = _parent_fd(root, parts)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        info = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return False
    finally:
        os.close(parent)
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
    path = Path(path)
    guarded = _below(path)
    if guarded is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        parent, name = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY), path.name
    else:
        root, parts = guarded
        parent, name = _parent_fd(root, parts, create=True), parts[-1]
    tmp = f".{name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666, dir_fd=parent)
        try:
            binary = isinstance(text, bytes)
            with os.fdopen(
                fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})
            ) as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=parent)
            except FileNotFoundError:
                pass
            raise
    finally:
        os.close(parent)


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
    parent = _parent_fd(root, parts)
    try:
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
    finally:
        os.close(parent)


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
