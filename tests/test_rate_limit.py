"""requests_per_minute: held across processes on one machine, and by the HTTP client."""

import json
import multiprocessing
import os
import stat
import time

import pytest

from daydream.calling import rate_limit
from daydream.calling.llm import complete
from daydream.calling.providers import endpoint
from daydream.config import validate_config
from daydream.errors import InputError

from conftest import run_together
from llm_server import FakeLLM


def _take_turns(path, count, times, start):
    from daydream.calling.rate_limit import wait_turn

    start.wait()
    for _ in range(count):
        wait_turn(path, 3, window_s=1.0)
        times.append(time.time())


def test_two_processes_share_one_limit(tmp_path):
    """3 a second between two processes that each want 4 turns: the 8 turns take over 2 s, and
    no second holds more than 3 (each process limiting itself alone would allow 6)."""
    times = multiprocessing.get_context("spawn").Manager().list()
    run_together(_take_turns, [(tmp_path / "limit.json", 4, times)] * 2, timeout=60)
    turns = sorted(times)
    assert len(turns) == 8
    assert all(later - earlier >= 0.98 for earlier, later in zip(turns, turns[3:], strict=False))


def test_the_client_waits_its_turn_for_each_attempt(tmp_path, monkeypatch):
    """A provider with requests_per_minute: 2 (the window shortened to 1 s for the test): of three
    calls and one retried attempt, the third request starts a window after the first."""
    monkeypatch.setattr(rate_limit, "WINDOW_S", 1.0)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(rate_limit.tempfile, "gettempdir", lambda: str(tmp_path))
    from daydream.store.archive import Request

    with FakeLLM() as server:
        server.faults = ["500"]  # the first attempt fails: its retry needs a turn of its own
        config = validate_config(
            {"providers": {"loop": {"base_url": server.base_url, "requests_per_minute": 2, "backoff_base_s": 0.01}}}
        )
        started = []
        for n in range(3):
            started.append(time.time())
            complete(endpoint(config, "loop"), Request("loop", "m", 10, 0.0), f"prompt {n}", "evaluation")
        finished = time.time()
    assert len(server.requests) == 4
    assert finished - started[0] >= 1.0  # 4 requests at 2 a window: the last waited for a new window


def private_temp(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(rate_limit.tempfile, "gettempdir", lambda: str(tmp_path))
    return tmp_path / f"daydream-{os.getuid()}"


def test_the_state_lives_in_a_folder_only_the_user_can_enter(tmp_path, monkeypatch):
    folder = private_temp(tmp_path, monkeypatch)
    path = rate_limit.limit_file("http://127.0.0.1:9/v1", None)
    assert path.parent == folder and stat.S_IMODE(folder.stat().st_mode) == 0o700
    rate_limit.wait_turn(path, 2)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("planted", ["open to others", "a link", "another user's"])
def test_a_state_folder_planted_by_someone_else_is_refused(tmp_path, monkeypatch, planted):
    """Another local user creates the predictable folder first (open to all, a link to their
    own, or theirs): the run refuses it, naming the fix, and writes nothing there."""
    folder = private_temp(tmp_path, monkeypatch)
    elsewhere = tmp_path / "theirs"
    elsewhere.mkdir()
    if planted == "a link":
        folder.symlink_to(elsewhere)
    else:
        folder.mkdir(mode=0o777)
        folder.chmod(0o777)
        if planted == "another user's":
            if os.getuid() != 0:
                pytest.skip("making a folder another user's needs root")
            folder.chmod(0o700)
            os.chown(folder, 65534, 65534)
    with pytest.raises(InputError, match="no private folder for the rate limit's state"):
        rate_limit.limit_file("http://127.0.0.1:9/v1", None)
    assert list(elsewhere.iterdir()) == []


def test_a_link_at_the_state_file_is_never_written_through(tmp_path, monkeypatch):
    private_temp(tmp_path, monkeypatch)
    path = rate_limit.limit_file("http://127.0.0.1:9/v1", None)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    path.symlink_to(victim)
    with pytest.raises(InputError, match="is a link"):
        rate_limit.wait_turn(path, 2)
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize(
    "contents",
    [
        lambda now: json.dumps([now + 10**6] * 5),  # the clock stepped back, or crafted
        lambda now: json.dumps({"not": "a list"}),
        lambda now: json.dumps(["x", None, True, 1e308, now - 10**6]),
        lambda now: '[1, 2, "cut sho',
    ],
)
def test_state_from_the_future_or_crafted_never_makes_a_run_wait(tmp_path, monkeypatch, contents):
    private_temp(tmp_path, monkeypatch)
    path = rate_limit.limit_file("http://127.0.0.1:9/v1", None)
    path.write_text(contents(time.time()))
    path.chmod(0o600)

    def no_sleep(seconds):
        raise AssertionError(f"waited {seconds} s")

    assert rate_limit.wait_turn(path, 5, sleep=no_sleep) == 0.0
    assert rate_limit.recent_times(path.read_text(), time.time(), 60.0, 5) != []
