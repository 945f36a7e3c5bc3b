"""The review app over real HTTP (waitress on 127.0.0.1), the labels file under concurrent
writers and kill -9, labels driving select-top, status and judge_vs_human.csv, and the
statistics job re-run by Snakemake when labels change. (In a real browser: test_review_browser.py.)"""

from __future__ import annotations

import multiprocessing
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
import requests

from daydream.analysis.human import cohen_kappa, judge_vs_human
from daydream.analysis.scores import score_rows, scores_frame
from daydream.review.app import ReviewSettings, create_app, serve
from daydream.review.essays import CohortEssays
from daydream.store.labels import append_label, cohort_labels, make_label, read_labels, verdicts

from conftest import make_review_cohort, run_env, write

PLANTED = "<script>document.title='PLANTED'</script><img src=x onerror=\"document.title='ONERROR'\">"
STATISTICS = {"resamples": 200, "seed": 1}


@pytest.fixture
def cohort(tmp_path):
    data = tmp_path / "data"
    essays = make_review_cohort(data, PLANTED)
    return data, essays


@pytest.fixture
def app_url(cohort):
    """The app served on a free loopback port in this process; its address."""
    data, _ = cohort
    essays = CohortEssays(data, "cohort-r", 3, STATISTICS)
    app = create_app(essays, ReviewSettings(str(data), "cohort-r", "alice"))
    found = []
    thread = threading.Thread(target=serve, args=(app, "127.0.0.1", 0, found.append), daemon=True)
    thread.start()
    for _ in range(100):
        if found:
            break
        time.sleep(0.05)
    return found[0].rstrip("/")


def form_token(page: str) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', page).group(1)


def label(url, gen_id, verdict, token, query="", **fields):
    data = {"form_token": token, "verdict": verdict, "reviewer": "alice", "advance": "1", **fields}
    return requests.post(f"{url}/essay/{gen_id}/label{query}", data=data, allow_redirects=False, timeout=10)


# --- The labels file ------------------------------------------------------------------------------


def test_last_label_of_each_reviewer_wins_and_bad_rows_are_named(tmp_path):
    data = tmp_path / "data"
    for reviewer, essay, verdict, score in [
        ("alice", "e1", "reject", None),
        ("bob", "e1", "accept", 8),
        ("alice", "e1", "accept", 9),
        ("alice", "e2", "undecided", 5),
        ("bob", "e3", "reject", 1),
        ("alice", "e3", "accept", 7),
    ]:
        append_label(data, "c", make_label(reviewer, essay, verdict, score, 'a, "quoted"\nline'))
    labels = cohort_labels(data, "c")
    assert len(labels) == 6 and labels[0].comment == 'a, "quoted"\nline'
    found = verdicts(labels)
    assert (found["e1"].state, found["e1"].accepted_by, found["e1"].score) == ("accepted", ("alice", "bob"), 8.5)
    assert found["e2"].state == "undecided" and found["e3"].state == "rejected"  # one reject is enough

    path = data / "cohorts/c/human_labels.csv"
    path.write_text(path.read_text().replace("undecided", "maybe"))
    with pytest.raises(Exception, match=r"row 4.*verdict|verdict.*row 4"):
        read_labels(path)
    for bad in ({"verdict": "yes"}, {"score": "11"}, {"score": "nan"}, {"reviewer": "a/b"}, {"essay": "../x"}):
        values = {"reviewer": "r", "essay": "e1", "verdict": "accept", "score": "", **bad}
        with pytest.raises(ValueError):
            make_label(values["reviewer"], values["essay"], values["verdict"], values["score"], "")


def _append_many(data, reviewer, count):
    for n in range(count):
        append_label(data, "c", make_label(reviewer, f"e{n % 7}", "accept", n % 11, f"{reviewer} {n}"))


def test_two_writers_at_once_lose_no_label(tmp_path):
    data = tmp_path / "data"
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_append_many, args=(data, name, 60)) for name in ("alice", "bob")]
    for writer in writers:
        writer.start()
    _append_many(data, "carol", 60)  # and a third, in this process
    for writer in writers:
        writer.join(60)
    labels = cohort_labels(data, "c")
    assert len(labels) == 180
    for name in ("alice", "bob", "carol"):
        assert [label.comment for label in labels if label.reviewer == name] == [f"{name} {n}" for n in range(60)]


def test_a_writer_killed_mid_write_leaves_a_readable_file(tmp_path):
    data = tmp_path / "data"
    code = (
        "import sys; from daydream.store.labels import append_label, make_label\n"
        "n = 0\n"
        "while True:\n"
        "    append_label(sys.argv[1], 'c', make_label('k', 'e1', 'accept', 5, 'x' * 2000 + str(n))); n += 1\n"
    )
    before = 0
    for attempt in range(3):
        writer = subprocess.Popen([sys.executable, "-c", code, str(data)], env=run_env())
        time.sleep(1.0 + 0.13 * attempt)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        labels = cohort_labels(data, "c")  # parses: whole rows only
        new = [int(label.comment[2000:]) for label in labels[before:]]
        assert new and new == list(range(len(new)))  # every label saved before the kill is there
        assert all(label.comment.startswith("x" * 2000) for label in labels)
        before = len(labels)


# --- The app over HTTP ----------------------------------------------------------------------------


def test_list_is_ranked_filterable_and_counts_label_states(app_url, cohort):
    _, essays = cohort
    page = requests.get(app_url + "/", timeout=10).text
    assert re.findall(r'data-gen-id="(e\d)"', page) == essays  # best first
    assert 'id="count-unlabelled">5<' in page
    filtered = requests.get(app_url + "/?draft_template=tpl-b", timeout=10).text
    assert re.findall(r'data-gen-id="(e\d)"', filtered) == ["e2", "e4"]
    assert "top 3" in page and "100%" in page  # e1's share of resamples in the top 3
    assert "<td>8.5-9</td>" in page  # e1's judges: m1 8.5, m2 9


def test_essay_page_shows_everything_as_text(app_url):
    response = requests.get(app_url + "/essay/e1", timeout=10)
    page = response.text
    assert "essay 1 text" in page and "draft 1 text" in page
    assert "<b>Tide Pools</b> (c-a)" in page and "Crop Rotation" in page
    assert "reasoning of m1 on e1" in page and "reasoning of m2 on e1" in page
    assert page.count("the judge's reasoning (kept apart, never parsed)") == 1 and "thinking of m2 about e1" in page
    assert "$0.0400" in page  # draft, essay and two evaluations at $0.01
    assert PLANTED not in page and "&lt;script&gt;document.title=" in page
    assert "<script>document.title" not in page
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'nonce-" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert 'id="next" href="/essay/e2"' in page and 'id="previous"' not in page


def test_labels_saved_move_on_and_show(app_url, cohort):
    data, _ = cohort
    page = requests.get(app_url + "/essay/e2?draft_template=tpl-b", timeout=10).text
    token = form_token(page)
    saved = label(app_url, "e2", "accept", token, "?draft_template=tpl-b", score="8.5", comment="good <b>idea</b>")
    assert saved.status_code == 303 and saved.headers["Location"].endswith("/essay/e4?draft_template=tpl-b")
    assert "daydream_reviewer=alice" in saved.headers["Set-Cookie"]
    label(app_url, "e2", "reject", token)  # changed my mind: the last one wins
    last = label(app_url, "e5", "undecided", token)
    assert last.headers["Location"].endswith("/")  # the last essay: back to the list
    rows = pd.read_csv(data / "cohorts/cohort-r/human_labels.csv")
    assert list(rows["verdict"]) == ["accept", "reject", "undecided"] and rows.loc[0, "score"] == 8.5
    page = requests.get(app_url + "/essay/e2", cookies={"daydream_reviewer": "alice"}, timeout=10).text
    assert 'id="my-verdict" class="state-reject">reject<' in page
    assert "good &lt;b&gt;idea&lt;/b&gt;" in page
    listing = requests.get(app_url + "/?state=rejected", timeout=10).text
    assert re.findall(r'data-gen-id="(e\d)"', listing) == ["e2"]


def test_what_another_site_could_send_is_refused(app_url, cohort):
    data, _ = cohort
    token = form_token(requests.get(app_url + "/essay/e1", timeout=10).text)
    assert label(app_url, "e1", "accept", "forged").status_code == 403  # no form token of this app
    headers = {"Origin": "http://evil.example"}
    forged = requests.post(
        f"{app_url}/essay/e1/label", data={"form_token": token, "verdict": "accept", "reviewer": "x"}, headers=headers
    )
    assert forged.status_code == 403
    port = app_url.rsplit(":", 1)[1]
    rebound = requests.get(app_url + "/", headers={"Host": f"evil.example:{port}"}, timeout=10)
    assert rebound.status_code == 403  # DNS rebinding: a foreign name resolving to 127.0.0.1
    bad = label(app_url, "e1", "accept", token, score="12")
    assert bad.status_code == 400 and "score" in bad.text
    assert not (data / "cohorts/cohort-r/human_labels.csv").exists()


def test_two_tabs_saving_at_once_lose_nothing(app_url, cohort):
    data, essays = cohort
    token = form_token(requests.get(app_url + "/essay/e1", timeout=10).text)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda n: label(app_url, essays[n % 5], "accept", token, comment=str(n)), range(40)))
    assert all(result.status_code == 303 for result in results)
    assert sorted(int(label.comment) for label in cohort_labels(data, "cohort-r")) == list(range(40))


def start_cli(root, *args, env=None):
    command = [sys.executable, "-m", "daydream", "review", "--config", str(root / "config.yaml"), *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or run_env())
    line = process.stdout.readline()
    return process, line


def test_cli_listens_on_loopback_and_beyond_only_with_a_token(cohort, tmp_path):
    data, _ = cohort
    write(tmp_path / "config.yaml", f"data_root: {data}\nstatistics: {{resamples: 200}}\n")
    refused = subprocess.run(
        [sys.executable, "-m", "daydream", "review", "--config", str(tmp_path / "config.yaml"), "--cohort", "cohort-r"]
        + ["--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env=run_env(),
        timeout=60,
    )
    assert refused.returncode == 2 and "--allow-remote" in refused.stderr

    process, line = start_cli(
        tmp_path, "--cohort", "cohort-r", "--host", "0.0.0.0", "--port", "0", "--allow-remote",
        env=run_env({"DAYDREAM_REVIEW_TOKEN": "s3cret-token"}),
    )  # fmt: skip
    try:
        assert "5 essays of cohort cohort-r" in line and "?token=s3cret-token" in line
        port = re.search(r":(\d+)/", line).group(1)
        base = f"http://127.0.0.1:{port}"
        assert requests.get(base + "/", timeout=10).status_code == 403
        assert requests.get(base + "/?token=wrong", timeout=10).status_code == 403
        session = requests.Session()
        assert session.get(base + "/?token=s3cret-token", timeout=10).status_code == 200
        assert session.get(base + "/essay/e1", timeout=10).status_code == 200  # the cookie carries it
    finally:
        process.terminate()
        process.wait(10)

    process, line = start_cli(tmp_path, "--cohort", "cohort-r", "--port", "0")
    try:
        assert line.startswith("reviewing 5 essays") and "http://127.0.0.1:" in line and "token" not in line
        assert requests.get(re.search(r"(http://\S+)", line).group(1), timeout=10).status_code == 200
    finally:
        process.terminate()
        process.wait(10)


# --- Labels feed the rest -------------------------------------------------------------------------


def test_cohens_kappa_equals_the_published_example():
    """Wikipedia's example (from Cohen 1960's definition): 50 items, both yes 20, both no 15,
    yes/no 5, no/yes 10: p_o 0.7, p_e 0.5, kappa 0.4."""
    first = [True] * 20 + [True] * 5 + [False] * 10 + [False] * 15
    second = [True] * 20 + [False] * 5 + [True] * 10 + [False] * 15
    assert cohen_kappa(first, second) == pytest.approx(0.4)
    assert cohen_kappa([True] * 4, [True] * 4) != cohen_kappa([True] * 4, [True] * 4)  # undefined: NaN


def test_judge_vs_human_against_an_independent_computation(cohort):
    from scipy import stats

    data, essays = cohort
    human = {"e1": ("accept", 9), "e2": ("accept", 4), "e3": ("reject", 6), "e4": ("reject", 2), "e5": ("undecided", 1)}
    for essay, (verdict, score) in human.items():
        append_label(data, "cohort-r", make_label("alice", essay, verdict, score, ""))
    scores = scores_frame(score_rows(data))
    table = judge_vs_human(scores, verdicts(cohort_labels(data, "cohort-r")), 6.0).set_index("judge")
    m1 = table.loc["judge__m1"]  # scores 8.5, 7, 5.5, 4, 2.5
    judge = [10 - 1.5 * n for n in range(1, 6)]
    rho = stats.spearmanr(judge, [9, 4, 6, 2, 1]).statistic
    assert (m1["essays_labelled"], m1["essays_decided"], m1["essays_with_human_score"]) == (5, 4, 5)
    assert m1["spearman"] == pytest.approx(rho, abs=1e-4)
    # judge accepts (>= 6) e1, e2; human accepts e1, e2, rejects e3, e4: full agreement
    assert m1["accept_agreement"] == 1.0 and m1["kappa"] == 1.0
    both = table.loc["all judges"]  # means 8.75, 7.25, 5.75, ...: the same decisions at 6
    assert both["kappa"] == 1.0
    strict = judge_vs_human(scores, verdicts(cohort_labels(data, "cohort-r")), 8.0).set_index("judge")
    # at 8: m1 accepts e1 only; agreement 3 of 4; p_e = 0.25*0.5 + 0.75*0.5 = 0.5; kappa 0.5
    assert strict.loc["judge__m1", "kappa"] == pytest.approx(0.5)


def daydream_cli(root, *args):
    command = [sys.executable, "-m", "daydream", *args, "--config", str(root / "config.yaml")]
    return subprocess.run(command, capture_output=True, text=True, env=run_env(), cwd=root)


def test_select_top_from_labels_and_status_counts_them(cohort, tmp_path):
    data, _ = cohort
    write(tmp_path / "config.yaml", f"data_root: {data}\nstatistics: {{resamples: 200}}\ntop_n: 2\n")
    refused = daydream_cli(tmp_path, "select-top", "--human", "accepted")
    assert refused.returncode == 2 and "no scored essay is accepted" in refused.stderr
    for reviewer, essay, verdict in [
        ("a", "e4", "accept"),
        ("a", "e2", "accept"),
        ("b", "e2", "reject"),
        ("a", "e5", "accept"),
        ("b", "e3", "undecided"),
    ]:
        append_label(data, "cohort-r", make_label(reviewer, essay, verdict, None, ""))
    append_label(data, "cohort-r", make_label("a", "e1", "reject", None, ""))

    accepted = daydream_cli(tmp_path, "select-top", "--human", "accepted")
    assert accepted.returncode == 0, accepted.stderr
    selection = (data / "2_tasks/selected_essays.txt").read_text()
    assert [line for line in selection.splitlines() if not line.startswith("#")] == ["e4", "e5"]  # e2: b rejected it

    unrejected = daydream_cli(tmp_path, "select-top", "--human", "not-rejected")
    assert unrejected.returncode == 0, unrejected.stderr
    selection = (data / "2_tasks/selected_essays.txt").read_text()
    assert [line for line in selection.splitlines() if not line.startswith("#")] == ["e3", "e4"]  # top 2 without e1, e2
    assert "2 rejected left out" in selection

    status = daydream_cli(tmp_path, "status", "--cohort", "cohort-r")
    assert "human labels: 5 of 5 essays labelled (2 accepted, 2 rejected, 1 undecided) by 2 reviewers" in status.stdout


def test_statistics_job_runs_again_when_labels_change(tiny):
    from conftest import run_snakemake

    run_snakemake(tiny, "all")
    cohort = next((tiny / "data/cohorts").glob("*/membership.csv")).parent
    essay = next(
        line.split(",")[1] for line in (cohort / "membership.csv").read_text().splitlines() if line.startswith("essay,")
    )
    append_label(tiny / "data", cohort.name, make_label("alice", essay, "accept", 9, ""))
    dry = run_snakemake(tiny, "all", "-n")
    assert "rule statistics" in dry.stdout.replace("localrule", "rule") and "score_tables" not in dry.stdout
    run_snakemake(tiny, "all")
    table = pd.read_csv(cohort / "reports/judge_vs_human.csv")
    assert (table["essays_labelled"] == 1).all() and len(table) >= 2
