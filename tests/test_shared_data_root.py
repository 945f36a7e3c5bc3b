"""Runs that share one data root: two checkouts at once, and concurrent writers of shared files."""

import subprocess
import time

from conftest import copy_workflow, make_experiment, run_env, run_together, snakemake_command, write_config
from llm_server import FakeLLM

HTTP_MODELS = (
    "id,model,provider,display_name,for_generation,for_evaluation\n"
    "writer,vendor/writer-1,openrouter,Writer,true,false\n"
    "judge,vendor/judge-1,openrouter,Judge,false,true\n"
)


def test_two_checkouts_on_one_data_root_run_a_cohort_once(tmp_path):
    """Two checkouts (each its own .snakemake/ and so its own Snakemake lock), one data root. While
    the first runs the cohort, a second run of it from the other checkout stops at once, says
    which run holds the cohort and makes no request; run again after the first has finished, it
    finds the work done and pays for nothing."""
    make_experiment(tmp_path / "lab", models=HTTP_MODELS)
    data = tmp_path / "lab" / "data"
    with FakeLLM() as server:
        server.gate.clear()  # the first run's calls stay in flight until the second has stopped
        providers = {"openrouter": {"base_url": server.base_url, "api_key_env": None}}
        commands = {}
        for name in ("checkout-a", "checkout-b"):
            root = tmp_path / name
            snakefile = copy_workflow(root)
            write_config(root, data_root=str(data), templates_root=str(tmp_path / "lab/templates"), providers=providers)
            commands[name] = (snakemake_command(root, "all_evaluations", snakefile=snakefile), root)

        def start(name):
            command, root = commands[name]
            return subprocess.Popen(
                command, cwd=root, env=run_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )

        first = start("checkout-a")
        deadline = time.monotonic() + 120
        while len(server.requests) < 3:  # the three drafts' calls, held at the server
            assert time.monotonic() < deadline and first.poll() is None, "the first run made no request"
            time.sleep(0.05)
        second = start("checkout-b")
        second_output = second.communicate(timeout=300)[0]
        assert second.returncode != 0, second_output[-3000:]
        assert "is being run right now by another snakemake" in second_output
        assert f"from {tmp_path / 'checkout-a'}" in second_output  # names the run that holds it
        assert len(server.requests) == 3  # the second run asked for nothing
        server.gate.set()
        first_output = first.communicate(timeout=300)[0]
        assert first.returncode == 0, first_output[-3000:]
        assert len(server.requests) == 3 + 3 + 12

        again = start("checkout-b")
        again_output = again.communicate(timeout=300)[0]
        assert again.returncode == 0, again_output[-3000:]
    assert len(server.requests) == 18  # nothing paid twice
    assert len(list(data.glob("gens/*/*/responses/*.json"))) == 18
    assert len(list(data.glob("gens/evaluation/*/parsed.txt"))) == 12


def _append_combos(path, first, count, start):
    from daydream.experiment.combos import make_combo, update_combo_mappings

    start.wait()
    for n in range(first, first + count):
        update_combo_mappings(path, [make_combo([f"c{n}", f"d{n}"], "paragraph", 2)], "2026-01-01T00:00:00Z")


def test_concurrent_appends_to_combo_mappings_lose_nothing(tmp_path):
    path = tmp_path / "combo_mappings.csv"
    run_together(_append_combos, [(path, 0, 150), (path, 1000, 150)])
    lines = path.read_text().splitlines()
    assert lines[0].startswith("combo_id,") and lines.count(lines[0]) == 1
    assert len(lines) == 1 + 2 * 150 * 2  # every combo of both writers, one row per concept
