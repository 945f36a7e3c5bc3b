"""An index of every archived response in a data root, so that a request is looked up, not
searched for: which responses answer request key K, slot r (first archived first), and which
generation folders hold any. The archive files (gens/<stage>/<gen_id>/responses/*.json) are the
truth; the index is rebuilt from them when it is missing, unreadable, of another version, or
(folder by folder) when a response folder changed behind its back (`daydream store reindex`
rebuilds it all).

SQLite from the standard library, in <data_root>/.daydream/: several processes (two cohorts at
once, Slurm jobs on the nodes) and the threads of one process use it at once. Its rollback
journal (not WAL, which needs shared memory and so one machine) relies on the file system's
POSIX locks, as the request locks do; it is emptied at each commit, not deleted and made again
(a call frees no inode). Commits do not wait for the disk: a crash can cost the index, never a
response, and a damaged index is rebuilt."""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from daydream.fileio import listdir, open_file, read_json_object
from daydream.stages import STAGES
from daydream.store.layout import METADATA, RESPONSES, StoreLayout
from daydream.store.locks import StoreLock

SCHEMA_VERSION = "1"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS responses (
    path TEXT PRIMARY KEY,        -- relative to the data root
    folder TEXT NOT NULL,         -- the generation folder it is archived in: <stage>/<gen_id>
    request_key TEXT NOT NULL,
    slot INTEGER NOT NULL,        -- which replicate of its request it is
    stamp TEXT NOT NULL,          -- when it was archived (sortable), from its file name
    origin TEXT                   -- NULL: paid for here; else the response it is a copy of
);
CREATE INDEX IF NOT EXISTS responses_by_request ON responses (request_key, slot, stamp);
CREATE INDEX IF NOT EXISTS responses_by_folder ON responses (folder);
CREATE TABLE IF NOT EXISTS folders (
    folder TEXT PRIMARY KEY,      -- <stage>/<gen_id>
    archive_mtime_ns INTEGER NOT NULL  -- of its responses/ folder when indexed; -1: none
);
"""


@dataclass(frozen=True)
class Entry:
    """One archived response as the index knows it."""

    path: str  # relative to the data root
    folder: str  # <stage>/<gen_id>
    request_key: str
    slot: int
    stamp: str
    origin: str | None


@dataclass
class RefreshReport:
    rebuilt: bool = False  # from scratch (missing, damaged or another version)
    folders_scanned: int = 0
    responses: int = 0  # in the index afterwards

    def __str__(self) -> str:
        how = "rebuilt from the archive files" if self.rebuilt else f"{self.folders_scanned} folder(s) rescanned"
        return f"response index: {self.responses} responses; {how}"


def stamp_of(name: str, key: str) -> str:
    """The archive time in a record's file name <key>-<stamp>.json."""
    return name[len(key) + 1 : -len(".json")]


def read_record(path: Path) -> dict | None:
    """An archive record; None when missing or no JSON object (a link is refused: fileio.py)."""
    record = read_json_object(path)
    return record or None


def entry_from_file(store: StoreLayout, folder: str, path: Path, replicate: int) -> Entry | None:
    """The index entry of one archive file; None for a file that is no record. A record written
    before slots were recorded fills the slot of its generation's replicate."""
    record = read_record(path)
    if record is None:
        return None
    key = record.get("request_key")
    if not isinstance(key, str) or not path.name.startswith(f"{key}-"):
        return None
    slot = record.get("slot")
    slot = slot if isinstance(slot, int) and slot >= 1 else replicate
    origin = record.get("reused_from")
    origin = origin.get("file") if isinstance(origin, dict) and isinstance(origin.get("file"), str) else None
    return Entry(str(path.relative_to(store.path)), folder, key, slot, stamp_of(path.name, key), origin)


def _replicate(gen_dir: Path) -> int:
    value = read_json_object(gen_dir / METADATA).get("replicate")
    return value if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1000 else 1


def scan_folder(store: StoreLayout, folder: str) -> tuple[list[Entry], int]:
    """The entries of one generation folder's archive, and its archive folder's mtime (-1: none)."""
    gen_dir = store.path / "gens" / folder
    archive = gen_dir / RESPONSES
    try:
        mtime = os.stat(archive, follow_symlinks=False).st_mtime_ns
    except OSError:
        return [], -1
    names = sorted(n for n in listdir(archive) if n.endswith(".json") and not n.startswith("."))
    replicate = _replicate(gen_dir) if names else 1
    entries = [entry_from_file(store, folder, archive / name, replicate) for name in names]
    return [e for e in entries if e is not None], mtime


class ResponseIndex:
    """The index of one data root, shared by the threads of a process (a connection each)."""

    def __init__(self, store: StoreLayout):
        self.store = store
        self.path = store.index_file
        self._local = threading.local()
        self._ready = False
        self._ready_lock = threading.Lock()

    # ---- connection -----------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            # its folder made, and it and the file checked, without following a link (fileio.py)
            os.close(open_file(self.path, os.O_RDWR | os.O_CREAT, 0o666))
            connection = sqlite3.connect(self.path, timeout=300, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA synchronous=OFF")
            connection.execute("PRAGMA journal_mode=TRUNCATE")
            self._local.connection = connection
        return connection

    def _drop_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _write(self, statements) -> None:
        """Run (sql, parameters) pairs in one transaction."""
        connection = self._connect()
        connection.execute("BEGIN IMMEDIATE")
        try:
            for sql, parameters in statements:
                if isinstance(parameters, list):
                    connection.executemany(sql, parameters)
                else:
                    connection.execute(sql, parameters)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def ensure(self) -> None:
        """The index exists, is readable and of this version; else it is rebuilt from the files."""
        if self._ready:
            return
        with self._ready_lock, StoreLock(self.store.index_lock):
            if not self._ready:
                if not self._usable():
                    self._rebuild()
                self._ready = True

    def _usable(self) -> bool:
        if not self.path.is_file():
            return False
        try:
            row = self._connect().execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
            self._connect().execute("SELECT count(*) FROM folders").fetchone()
        except sqlite3.DatabaseError:
            return False
        return row is not None and row[0] == SCHEMA_VERSION

    # ---- building ---------------------------------------------------------------------------
    def gen_folders(self) -> list[str]:
        """Every generation folder of the store, as <stage>/<gen_id>."""
        folders = []
        for stage in STAGES:
            names = listdir(self.store.stage_dir(stage))
            folders += [f"{stage}/{name}" for name in names if not name.startswith(".")]
        return folders

    def rebuild(self) -> RefreshReport:
        """The whole index again, from every archive file in the store."""
        with StoreLock(self.store.index_lock):
            return self._rebuild()

    def _rebuild(self) -> RefreshReport:
        """rebuild(), its caller holding the index lock: another process on the data root never
        has the file removed under it while it checks or builds it."""
        self._drop_connection()
        for suffix in ("", "-journal"):
            try:
                os.unlink(f"{self.path}{suffix}")
            except FileNotFoundError:
                pass
        connection = self._connect()
        connection.executescript(SCHEMA)
        entries, folders = [], []
        for folder in self.gen_folders():
            found, mtime = scan_folder(self.store, folder)
            entries += found
            folders.append((folder, mtime))
        self._write(
            [
                ("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,)),
                ("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)", [_row(e) for e in entries]),
                ("INSERT OR REPLACE INTO folders VALUES (?, ?)", folders),
            ]
        )
        return RefreshReport(rebuilt=True, folders_scanned=len(folders), responses=len(entries))

    def refresh(self) -> RefreshReport:
        """Bring the index up to date with the files: a folder whose archive changed since it was
        indexed (written by another tool or version, copied in, removed) is scanned again."""
        with StoreLock(self.store.index_lock):
            return self._refresh()

    def _refresh(self) -> RefreshReport:
        if not self._usable():
            report = self._rebuild()
            self._ready = True
            return report
        self._ready = True
        connection = self._connect()
        known = dict(connection.execute("SELECT folder, archive_mtime_ns FROM folders"))
        changed, present = [], set()
        for folder in self.gen_folders():
            present.add(folder)
            try:
                mtime = os.stat(self.store.path / "gens" / folder / RESPONSES, follow_symlinks=False).st_mtime_ns
            except OSError:
                mtime = -1
            if known.get(folder) != mtime:
                changed.append(folder)
        gone = [folder for folder in known if folder not in present]
        statements = []
        for folder in changed:
            entries, mtime = scan_folder(self.store, folder)
            statements += [
                ("DELETE FROM responses WHERE folder = ?", (folder,)),
                ("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)", [_row(e) for e in entries]),
                ("INSERT OR REPLACE INTO folders VALUES (?, ?)", (folder, mtime)),
            ]
        for folder in gone:
            statements += [
                ("DELETE FROM responses WHERE folder = ?", (folder,)),
                ("DELETE FROM folders WHERE folder = ?", (folder,)),
            ]
        if statements:
            self._write(statements)
        total = connection.execute("SELECT count(*) FROM responses").fetchone()[0]
        return RefreshReport(folders_scanned=len(changed) + len(gone), responses=total)

    # ---- reading and writing ----------------------------------------------------------------
    def paid(self, request_key: str, slot: int) -> list[Entry]:
        """Responses paid for (not copies) that answer this request key and fill this slot, first
        archived first."""
        self.ensure()
        rows = self._connect().execute(
            "SELECT * FROM responses WHERE request_key = ? AND slot = ? AND origin IS NULL ORDER BY stamp, path",
            (request_key, slot),
        )
        return [Entry(*row) for row in rows]

    def folders_with_responses(self) -> set[str]:
        self.ensure()
        return {row[0] for row in self._connect().execute("SELECT DISTINCT folder FROM responses")}

    def add(self, entry: Entry) -> None:
        """A response just archived (its file is written), and its folder's new state."""
        self.ensure()
        try:
            mtime = os.stat(self.store.path / "gens" / entry.folder / RESPONSES, follow_symlinks=False).st_mtime_ns
        except OSError:
            mtime = -1
        self._write(
            [
                ("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)", _row(entry)),
                ("INSERT OR REPLACE INTO folders VALUES (?, ?)", (entry.folder, mtime)),
            ]
        )

    def forget(self, path: str) -> None:
        """An entry whose file is gone."""
        self.ensure()
        self._write([("DELETE FROM responses WHERE path = ?", (path,))])

    def count(self) -> int:
        self.ensure()
        return self._connect().execute("SELECT count(*) FROM responses").fetchone()[0]


def _row(entry: Entry) -> tuple:
    return (entry.path, entry.folder, entry.request_key, entry.slot, entry.stamp, entry.origin)


_INDEXES: dict[str, ResponseIndex] = {}
_INDEXES_LOCK = threading.Lock()
_RESOLVED: dict[str, str] = {}  # a root's absolute name -> its real path (resolved once: a call asks per response)


def index_of(store: StoreLayout) -> ResponseIndex:
    """The one index object of a data root in this process."""
    name = os.path.abspath(store.root)
    key = _RESOLVED.get(name)
    if key is None:
        key = _RESOLVED[name] = str(Path(name).resolve())
    with _INDEXES_LOCK:
        index = _INDEXES.get(key)
        if index is None:
            index = _INDEXES[key] = ResponseIndex(store)
        return index
