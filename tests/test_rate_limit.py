"""requests_per_minute: held across processes on one machine, and by the HTTP client."""

import multiprocessing
import time

from daydream.calling import rate_limit
from daydream.calling.llm import complete
from daydream.calling.providers import endpoint
from daydream.config import validate_config

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
