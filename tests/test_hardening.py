"""The second hardening round: links under the data root, purge during a run, typed metadata,
credentials in URLs, limits that are no numbers, and bounded reads. Each case fails when its
guard is removed (dev/mutations.py)."""

import json
import os
import signal
import subprocess
import time

import pytest

from daydream.analysis.scores import score_rows
from daydream.analysis.selection import export_essays
from daydream.analysis.status import spend_rows
from daydream.calling.credentials import redact
from daydream.config import validate_config
from daydream.errors import InputError
from daydream.fileio import LinkRefused, read_text, write_atomic
from daydream.planning.stored import read_selected_essays
from daydream.store.housekeeping import check_store, purge, purge_plan
from daydream.store.layout import StoreLayout
from daydream.store.run_lock import acquire_run_lock

from conftest import run_env, run_snakemake, snakemake_command, write
from llm_server import FakeLLM
from test_store import store
from test_workflow import http_setup

OUTSIDE = "text from outside the data root\n"


@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "elsewhere"
    write(folder / "secret.txt", OUTSIDE)
    write(folder / "sub" / "kept.txt", "kept\n")
    return folder


# ---- links: nothing under the data root is followed ---------------------------------------
def test_purge_removes_a_linked_generation_folder_as_a_link_never_what_it_points_to(tmp_path, outside):
    data = store(tmp_path)
    folder = data / "gens/draft/d2"
    for entry in folder.iterdir():  # d2 becomes a link to a folder elsewhere
        entry.unlink() if entry.is_file() else None
    os.system(f"rm -rf {folder}")
    folder.symlink_to(outside, target_is_directory=True)
    (data / "gens/essay/e2/raw.txt").unlink()
    (data / "gens/essay/e2/raw.txt").symlink_to(outside / "secret.txt")  # and a linked file in e2
    remove, _ = purge_plan(data, "a")
    purge(data, "a", remove, include_responses=True)
    assert (outside / "secret.txt").read_text() == OUTSIDE and (outside / "sub/kept.txt").read_text() == "kept\n"
    assert not folder.exists() and not folder.is_symlink() and not (data / "gens/essay/e2").exists()


def test_a_linked_store_file_is_never_read_as_data(tmp_path, outside):
    """A parsed.txt linked to a file elsewhere: not a score, not an essay on the page, not exported."""
    data = store(tmp_path)
    parsed = data / "gens/evaluation/v1/parsed.txt"
    parsed.unlink()
    parsed.symlink_to(outside / "secret.txt")
    StoreLayout(data)  # the data root in use, as every command makes it
    with pytest.raises(LinkRefused, match="is a symbolic link"):
        read_text(parsed)
    (row,) = [r for r in score_rows(data) if r["gen_id"] == "v1"]
    assert row["score"] is None and "symbolic link" in row["error"] and OUTSIDE.strip() not in str(row)
    essay = data / "gens/essay/e1/parsed.txt"
    essay.unlink()
    essay.symlink_to(outside / "secret.txt")
    import pandas as pd

    with pytest.raises(LinkRefused):
        export_essays(data, ["e1"], pd.DataFrame(columns=["parent_gen_id"]), tmp_path / "out")
    assert OUTSIDE not in "".join(p.read_text() for p in tmp_path.glob("out/**/*.txt"))


def test_nothing_is_written_through_a_link_under_the_data_root(tmp_path, outside):
    data = StoreLayout(tmp_path / "data")
    write(tmp_path / "data/gens/draft/g1/metadata.json", "{}")
    (tmp_path / "data/gens/draft/g2").symlink_to(outside, target_is_directory=True)
    with pytest.raises(LinkRefused, match="g2"):
        write_atomic(data.gen_dir("draft", "g2") / "raw.txt", "paid\n")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt", "sub"]
    # a link at the file itself is replaced, not written through
    (tmp_path / "data/gens/draft/g1/raw.txt").symlink_to(outside / "secret.txt")
    write_atomic(data.gen_dir("draft", "g1") / "raw.txt", "paid\n")
    assert (outside / "secret.txt").read_text() == OUTSIDE and read_text(data.gen_dir("draft", "g1") / "raw.txt")


def test_export_never_writes_through_a_link_in_its_output_folder(tmp_path, outside):
    import pandas as pd

    data = store(tmp_path)
    out = tmp_path / "out"
    (out / "e1").mkdir(parents=True)
    (out / "e1" / "essay.txt").symlink_to(outside / "secret.txt")
    export_essays(data, ["e1"], pd.DataFrame(columns=["parent_gen_id"]), out)
    assert (outside / "secret.txt").read_text() == OUTSIDE and (out / "e1/essay.txt").read_text() == "paid"


def test_the_store_check_names_links_and_unreadable_metadata(tmp_path, outside):
    data = store(tmp_path)
    (data / "gens/draft/d1/raw.txt").unlink()
    (data / "gens/draft/d1/raw.txt").symlink_to(outside / "secret.txt")
    (data / "gens/essay/e2/metadata.json").write_text('{"stage": "essay", "gen_id": "e2", "templ')  # cut short
    (data / "gens/evaluation/v2/metadata.json").write_text(json.dumps({"template_id": ["a", "b"]}))
    found = {(p.kind, p.gen_id): p.detail for p in check_store(data)}
    assert "raw.txt is a link" in found[("symbolic link", "d1")]
    assert "not a JSON object" in found[("unreadable metadata", "e2")]
    assert (
        "field 'template_id'" in found[("unreadable metadata", "v2")]
        and "a list" in found[("unreadable metadata", "v2")]
    )


# ---- purge and runs -------------------------------------------------------------------------
def test_purge_refuses_while_a_run_holds_the_cohort(tmp_path):
    data = store(tmp_path)
    remove, _ = purge_plan(data, "a")
    running = acquire_run_lock(StoreLayout(data), "a", "/a/checkout")
    try:
        with pytest.raises(InputError, match="not purging: cohort a is being run right now"):
            purge(data, "a", remove, include_responses=True)
    finally:
        running.release()
    assert (data / "gens/draft/d2/raw.txt").is_file()
    assert purge(data, "a", remove) == len(remove)


# ---- typed metadata: a message naming file and field, never a traceback ---------------------
@pytest.mark.parametrize("field, bad", [("template_id", ["a", "b"]), ("llm_model_id", {"x": 1}), ("replicate", "2")])
def test_a_metadata_field_of_the_wrong_type_is_an_error_row_naming_it(tmp_path, field, bad):
    data = store(tmp_path)
    path = data / "gens/evaluation/v1/metadata.json"
    meta = json.loads(path.read_text())
    path.write_text(json.dumps({**meta, field: bad}))
    rows = {r["gen_id"]: r for r in score_rows(data)}
    assert f"field '{field}'" in rows["v1"]["error"] and str(path) in rows["v1"]["error"]
    assert "field" not in rows["v2"]["error"]  # the other evaluations' rows are as they were


def test_spend_names_a_cost_that_is_no_number(tmp_path):
    path = write(tmp_path / "gens/draft/d1/metadata.json", json.dumps({"mode": "llm", "cost": "1e9"}))
    with pytest.raises(InputError, match="field 'cost': expected a finite number"):
        spend_rows([path])


# ---- money and time guards are finite numbers -----------------------------------------------
@pytest.mark.parametrize(
    "config, where",
    [
        ({"max_cost_usd": float("nan")}, "max_cost_usd"),
        ({"llm": {"timeout_s": float("inf")}}, "llm.timeout_s"),
        ({"providers": {"x": {"base_url": "http://h/v1", "backoff_max_s": float("nan")}}}, "providers.x.backoff_max_s"),
    ],
)
def test_a_limit_that_is_no_finite_number_is_refused(config, where):
    with pytest.raises(ValueError, match=f"invalid config at {where}: .* not a finite number"):
        validate_config(config)


def test_credentials_in_a_provider_url_are_refused_and_redacted_wherever_they_appear():
    with pytest.raises(ValueError, match="providers.x.base_url: credentials in a URL"):
        validate_config({"providers": {"x": {"base_url": "https://user:password@host/v1"}}})
    echoed = "401: invalid credentials: Basic dXNlcjpwYXNzd29yZA== for https://user:password@host/v1"
    cleaned = redact(echoed)
    assert "dXNlcjpwYXNzd29yZA" not in cleaned and "password" not in cleaned and "https://" in cleaned


# ---- bounded reads ----------------------------------------------------------------------------
def test_a_selection_over_the_limit_is_refused_as_soon_as_it_is_known(tmp_path):
    path = write(tmp_path / "selected.txt", "".join(f"e{n}\n" for n in range(200_000)))
    with pytest.raises(InputError, match="more than 50,000 gen_ids listed \\(line 50001\\)"):
        read_selected_essays(path, 50_000)
    ids = read_selected_essays(path)  # unbounded: read once each, in order, in linear time
    assert len(ids) == 200_000 and ids[:2] == ["e0", "e1"]


# ---- interrupts stop paying -------------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_while_rate_limited_stops_paying_at_once(tmp_path, signum):
    """requests_per_minute 3: the three drafts' calls go out, the essays' wait for a turn. Ctrl-C
    (or SIGTERM) then: no request after it, the calls waiting for a turn are given up, and the run
    exits within seconds; the same command later pays for each other request once."""
    with FakeLLM() as server:
        env = http_setup(tmp_path, server, llm={"requests_per_minute": 3})
        command = snakemake_command(tmp_path, "all_evaluations")
        with open(tmp_path / "interrupted.log", "w") as log:
            process = subprocess.Popen(command, cwd=tmp_path, env=run_env(env), stdout=log, stderr=log)
        deadline = time.monotonic() + 120
        while len(server.requests) < 3 or not list(tmp_path.glob("data/gens/essay/*/prompt.txt")):
            assert time.monotonic() < deadline and process.poll() is None, "the run ended before the signal"
            time.sleep(0.02)
        time.sleep(0.5)  # the essays' calls are now waiting for a turn of the rate limit
        process.send_signal(signum)
        sent_at_signal, signalled = len(server.requests), time.monotonic()
        process.wait(timeout=60)
        took = time.monotonic() - signalled
        assert len(server.requests) == sent_at_signal == 3
        assert process.returncode != 0 and took < 15, (took, (tmp_path / "interrupted.log").read_text()[-3000:])
        http_setup(tmp_path, server)  # the limit lifted: the same command finishes the cube
        run_snakemake(tmp_path, "all_evaluations", env=env)
    sent = [r["body"]["messages"][-1]["content"] for r in server.requests]
    assert len(sent) == len(set(sent)) == 3 + 3 + 12


def test_rescoring_a_linked_essay_is_refused_before_any_job(tmp_path, outside):
    """An essay to re-score whose parsed.txt links elsewhere: that file would be sent to the
    provider in every evaluation prompt. Refused while planning, naming the link."""
    from daydream.experiment.definition import load_experiment
    from daydream.planning.cohort import plan_cohort

    from conftest import cohort_settings, make_experiment

    make_experiment(tmp_path)
    data = store(tmp_path)
    write(data / "2_tasks/selected_essays.txt", "e1\n")
    parsed = data / "gens/essay/e1/parsed.txt"
    parsed.unlink()
    parsed.symlink_to(outside / "secret.txt")
    settings = cohort_settings(k_max=2, curated_mode="evaluate")
    with pytest.raises(LinkRefused, match="e1/parsed.txt.*is a symbolic link"):
        plan_cohort(load_experiment(data, tmp_path / "templates"), settings)


def test_prices_that_are_no_finite_numbers_are_named_before_any_call(tmp_path):
    from daydream.experiment.definition import load_experiment

    from conftest import make_experiment

    models = (
        "id,model,provider,display_name,for_generation,for_evaluation,input_price_per_mtok,output_price_per_mtok\n"
        "gen-off,offline/gen,offline,Gen,true,false,NaN,1\n"
        "judge-off,offline/judge,offline,Judge,false,true,1,1\n"
    )
    make_experiment(tmp_path, models=models)
    with pytest.raises(InputError, match="llm_models.csv, row 1 .*field 'input_price_per_mtok'.*finite"):
        load_experiment(tmp_path / "data", tmp_path / "templates")


@pytest.mark.parametrize("command", ["status", "cost", "results"])
def test_a_cohort_is_named_by_its_id_never_by_a_path(tmp_path, command, capsys):
    from daydream.cli import main

    assert main([command, "--data-root", str(tmp_path), "--cohort", "../../elsewhere"]) == 2
    assert "unsafe cohort id '../../elsewhere'" in capsys.readouterr().err
    assert not (tmp_path.parent / "elsewhere").exists()


@pytest.mark.parametrize("folder", ["logs", "cohorts", "gens/draft", ".daydream"])
def test_a_run_refuses_a_linked_store_folder_before_any_job(tmp_path, outside, folder):
    """What Snakemake writes itself (job logs, outputs) follows the same rule: the folders a run
    writes into are checked before any job."""
    from daydream.planning.setup import load_setup

    from conftest import make_experiment

    make_experiment(tmp_path)
    link = tmp_path / "data" / folder
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside, target_is_directory=True)
    config = validate_config(
        {"data_root": str(tmp_path / "data"), "templates_root": str(tmp_path / "templates"), "k_max": 2}
    )
    with pytest.raises(LinkRefused, match=f"{folder}: is a symbolic link"):
        load_setup(config, None).cost_plan()
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt", "sub"]
