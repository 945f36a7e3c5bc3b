"""The store's file access (fileio.py) on real folders: the folders near a data root stay open
(a file access opens only the folders below them), and a kept folder removed or swapped for a
link meanwhile is never written through: it is opened again from the root, and a link refused."""

import os
import shutil

import pytest

from daydream import fileio
from daydream.fileio import LinkRefused, exists, read_text, register_root, remove_tree, write_atomic


@pytest.fixture
def root(tmp_path):
    data = tmp_path / "data"
    register_root(data)
    return data


def count_opens(monkeypatch) -> list:
    """The paths os.open is asked for (counted, then opened as usual)."""
    opened = []
    real_open = os.open

    def counting_open(path, *args, **kwargs):
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(fileio.os, "open", counting_open)
    return opened


def test_folders_near_the_root_are_opened_once(root, monkeypatch):
    write_atomic(root / "gens/draft/g1/prompt.txt", "one")
    opened = count_opens(monkeypatch)
    write_atomic(root / "gens/draft/g2/prompt.txt", "two")
    assert read_text(root / "gens/draft/g1/prompt.txt") == "one"
    names = ["a temporary file" if path.endswith(".tmp") else path for path in opened]
    # g2's folder (looked for, then made), its temporary file; g1's folder and the file read:
    # never the root, gens/ or gens/draft/ again
    assert names == ["g2", "g2", "a temporary file", "g1", "prompt.txt"]


def test_a_kept_folder_removed_and_made_again_is_followed(root):
    write_atomic(root / "gens/draft/g1/prompt.txt", "before")
    shutil.rmtree(root)  # another tool, or a test, removes the whole data root
    assert not exists(root / "gens/draft/g1/prompt.txt")
    (root / "gens/draft/g1").mkdir(parents=True)
    (root / "gens/draft/g1/prompt.txt").write_text("made again")
    assert read_text(root / "gens/draft/g1/prompt.txt") == "made again"
    write_atomic(root / "gens/draft/g2/prompt.txt", "after")
    assert (root / "gens/draft/g2/prompt.txt").read_text() == "after"  # in the folder now there


def test_a_kept_folder_swapped_for_a_link_is_never_written_through(root, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    write_atomic(root / "gens/draft/g1/prompt.txt", "kept")
    shutil.rmtree(root / "gens/draft")
    (root / "gens/draft").symlink_to(outside, target_is_directory=True)
    with pytest.raises(LinkRefused, match="symbolic link"):
        write_atomic(root / "gens/draft/g2/prompt.txt", "would land outside")
    with pytest.raises(LinkRefused):
        exists(root / "gens/draft/g1/prompt.txt")
    assert list(outside.iterdir()) == []


def test_removing_a_kept_folder_then_writing_into_it_makes_it_again(root):
    write_atomic(root / "gens/essay/e1/parsed.txt", "x")
    assert remove_tree(root / "gens/essay")
    write_atomic(root / "gens/essay/e2/parsed.txt", "y")
    assert (root / "gens/essay/e2/parsed.txt").read_text() == "y"
