"""The report as a researcher opens it: headless Chromium renders the Snakemake report, the
essays page and a plot, and a script planted in a model's response does not run."""

import shutil
import subprocess

import pytest

from test_workflow import run_with_planted_markup

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium here (.ci/run installs the Debian package `chromium` where it can)"
)
PLANTED = "<script>document.title = 'PLANTED SCRIPT RAN'</script><img src=x onerror=\"document.title='ONERROR RAN'\">"


def rendered(page, profile):
    """The DOM of a local page after Chromium has run it (scripts, images)."""
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_report_essays_and_plots_render_and_planted_markup_stays_text(tmp_path):
    reports = run_with_planted_markup(tmp_path, PLANTED)

    control = tmp_path / "control.html"  # this Chromium does run scripts: the checks below mean something
    control.write_text("<html><head><title>before</title></head><body>" + PLANTED + "</body></html>")
    assert "RAN" in rendered(control, tmp_path / "profile-0")

    source = (tmp_path / "report.html").read_text(errors="replace")
    report = rendered(tmp_path / "report.html", tmp_path / "profile-1")
    for category in ("Score tables", "Summaries", "Reliability", "Essays", "Plots", "Cost"):
        # an element the report's app renders: in the rendered page, not in the file's source
        assert f">{category}<" in report and f">{category}<" not in source

    essays = rendered(reports / "essays.html", tmp_path / "profile-2")
    assert essays.count("<h2>") >= 2 and "Evaluations" in essays
    assert "PLANTED SCRIPT RAN" in essays.replace("&#x27;", "'")  # shown as text ...
    assert "<title>Top essays of cohort" in essays  # ... and the title was not changed by it
    assert "ONERROR RAN</title>" not in essays and "PLANTED SCRIPT RAN</title>" not in essays

    viewer = tmp_path / "plot.html"
    plot = reports / "plots" / "scores_by_evaluator.png"
    viewer.write_text(
        f"<html><head><title>loading</title></head><body><img src='{plot.as_uri()}' "
        "onload=\"document.title = 'plot ' + this.naturalWidth + 'x' + this.naturalHeight\"></body></html>"
    )
    shown = rendered(viewer, tmp_path / "profile-3")
    assert "<title>plot " in shown and "<title>plot 0x0" not in shown
