"""The response index (store/index.py) and reuse by request (store/responses.py) on real files,
without Snakemake: the files are the truth, the index follows them."""

import json
import multiprocessing
import shutil
import sqlite3
import time

from daydream.fileio import write_json_atomic
from daydream.store.archive import archive_response
from daydream.store.index import ResponseIndex, index_of
from daydream.store.layout import StoreLayout
from daydream.store.responses import archive, shared_response

from conftest import write

KEY = "0123456789abcdef0123"


def paid_record(text: str, slot: int | None = 1, key: str = KEY) -> dict:
    record = {"request_key": key, "text": text, "usage": {"prompt_tokens": 1, "completion_tokens": 2}}
    if slot is not None:
        record["slot"] = slot
    return record


def store_at(tmp_path) -> StoreLayout:
    return StoreLayout(tmp_path / "data")


def texts(store, entries) -> list[str]:
    return [json.loads((store.path / e.path).read_text())["text"] for e in entries]


def test_the_index_is_rebuilt_from_the_files_when_missing_or_damaged(tmp_path):
    store = store_at(tmp_path)
    archive(store, "evaluation", "a1", KEY, 1, paid_record("first"))
    archive(store, "evaluation", "a2", KEY, 2, paid_record("second", slot=2))
    for damage in ("missing", "damaged", "another version"):
        index = ResponseIndex(store)  # a new process
        if damage == "missing":
            store.index_file.unlink()
        elif damage == "damaged":
            store.index_file.write_bytes(b"not a database at all" * 100)
        else:
            with sqlite3.connect(store.index_file) as connection:
                connection.execute("UPDATE meta SET value = 'old' WHERE name = 'schema'")
        assert texts(store, index.paid(KEY, 1)) == ["first"] and texts(store, index.paid(KEY, 2)) == ["second"]


def test_a_folder_changed_behind_the_index_is_scanned_again(tmp_path):
    """A record written by another tool, a folder copied in, a folder removed: refresh follows."""
    store = store_at(tmp_path)
    index = index_of(store)
    archive(store, "draft", "d1", KEY, 1, paid_record("paid here"))
    archive_response(store.gen_dir("draft", "d2"), KEY, paid_record("written by another tool"))
    write(
        store.gen_dir("draft", "d3") / "responses" / f"{KEY}-20200101T000000000000Z.json",
        json.dumps(paid_record("old")),
    )
    report = index.refresh()
    assert report.folders_scanned == 2 and report.responses == 3
    assert texts(store, index.paid(KEY, 1)) == ["old", "paid here", "written by another tool"]  # first archived first
    shutil.rmtree(store.gen_dir("draft", "d3"))
    assert index.refresh().responses == 2
    assert index.refresh().folders_scanned == 0  # nothing changed: nothing read


def test_a_record_without_a_slot_fills_its_generations_replicate(tmp_path):
    """Records archived before slots were recorded: the replicate in their generation's metadata."""
    store = store_at(tmp_path)
    write_json_atomic(store.gen_dir("evaluation", "e2") / "metadata.json", {"replicate": 2})
    archive_response(store.gen_dir("evaluation", "e2"), KEY, paid_record("replicate two", slot=None))
    archive_response(store.gen_dir("evaluation", "e1"), KEY, paid_record("replicate one", slot=None))
    index = ResponseIndex(store)
    assert texts(store, index.paid(KEY, 1)) == ["replicate one"]
    assert texts(store, index.paid(KEY, 2)) == ["replicate two"]


def test_another_generations_response_is_copied_with_its_source_and_copies_are_not_samples(tmp_path):
    store = store_at(tmp_path)
    archive(store, "evaluation", "a1", KEY, 1, paid_record("paid by a1"))
    found = shared_response(store, "evaluation", "b1", KEY, 1)
    assert found.origin == "store" and found.record["text"] == "paid by a1"
    assert found.source["gen_id"] == "a1" and found.file.startswith("gens/evaluation/b1/responses/")
    copy = json.loads((store.path / found.file).read_text())
    assert copy["reused_from"]["gen_id"] == "a1" and copy["slot"] == 1
    assert texts(store, index_of(store).paid(KEY, 1)) == ["paid by a1"]  # the copy is no new sample
    assert shared_response(store, "evaluation", "c1", KEY, 2) is None  # slot 2: nobody paid for it


def test_a_response_whose_file_is_gone_is_forgotten_and_the_next_one_answers(tmp_path):
    store = store_at(tmp_path)
    first = archive(store, "evaluation", "a1", KEY, 1, paid_record("first"))
    archive(store, "evaluation", "a2", KEY, 1, paid_record("second"))
    (store.path / first).unlink()  # purged behind the index's back
    found = shared_response(store, "evaluation", "b1", KEY, 1)
    assert found.record["text"] == "second"
    assert texts(store, index_of(store).paid(KEY, 1)) == ["second"]


def _refresh_fresh_stores(roots: list[str], start: float, expected: int) -> list[str]:
    """In a process of its own: each store's index, found missing, built and read, the processes
    starting on each store at the same moment."""
    problems = []
    for i, root in enumerate(roots):
        time.sleep(max(0.0, start + 0.2 * i - time.time()))
        try:
            report = ResponseIndex(StoreLayout(root)).refresh()
            if report.responses != expected:
                problems.append(f"{root}: refresh saw {report.responses} responses")
        except sqlite3.Error as exc:
            problems.append(f"{root}: {type(exc).__name__}: {exc}")
    return problems


def test_runs_starting_at_once_on_one_data_root_never_remove_the_index_under_each_other(tmp_path):
    """Two cohorts' runs on one data root both find the index missing and build it: one waits for
    the other (without the index lock, one removed the file the other was building: disk I/O error)."""
    roots = []
    for n in range(12):
        store = StoreLayout(tmp_path / f"data{n}")
        for i in range(40):
            archive(store, "evaluation", f"e{i}", KEY, 1, paid_record(f"text {i}"))
        store.index_file.unlink()  # a data root whose index is yet to be built
        roots.append(str(store.path))
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        start = time.time() + 2  # after the workers have started
        results = pool.starmap(_refresh_fresh_stores, [(roots, start, 40)] * 4)
    assert [problem for problems in results for problem in problems] == []


def test_a_response_added_to_the_index_leaves_no_file_removed_behind_it(tmp_path):
    """Each call adds to the index: its rollback journal is emptied at commit, not deleted and made
    again, so a run frees no inode per call (on ext4 without a journal every later file creation
    scans past the inodes freed in the last minutes: docs/performance.md)."""
    store = store_at(tmp_path)
    journal = store.index_file.with_name(store.index_file.name + "-journal")
    inodes = set()
    for i in range(4):
        archive(store, "evaluation", f"e{i}", KEY, 1, paid_record(f"text {i}"))
        assert journal.stat().st_size == 0  # emptied at commit: not a hot journal
        inodes.add(journal.stat().st_ino)
    assert len(inodes) == 1  # the same file after every commit
    assert texts(store, index_of(store).paid(KEY, 1)) == [f"text {i}" for i in range(4)]
