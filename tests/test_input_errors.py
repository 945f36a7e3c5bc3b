"""Every input error names the file and the row or field (SPEC section 10)."""

import json

import pytest

from daydream.calling.providers import check_endpoints
from daydream.config import validate_config
from daydream.errors import InputError
from daydream.experiment.combos import Combo, update_combo_mappings
from daydream.experiment.definition import check_experiment_axes, load_experiment
from daydream.planning.cohort import plan_cohort

from conftest import cohort_settings, make_experiment, write


@pytest.fixture
def exp_dir(tmp_path):
    make_experiment(tmp_path)
    return tmp_path


def load(root):
    return load_experiment(root / "data", root / "templates")


def edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def curated_store(data, essay_template):
    """selected_essays.txt naming essay e1 of draft d1 (combo combo_v1_x) in the store."""
    write(data / "2_tasks/selected_essays.txt", "e1\n")
    write(data / "gens/essay/e1/metadata.json", json.dumps({"parent_gen_id": "d1", "template_id": essay_template}))
    write(
        data / "gens/draft/d1/metadata.json",
        json.dumps({"combo_id": "combo_v1_x", "template_id": "ideas", "llm_model_id": "gen-off"}),
    )
    return data


def expect(root, *fragments):
    with pytest.raises(InputError) as info:
        experiment = load(root)
        check_experiment_axes(experiment)
        plan_cohort(experiment, cohort_settings(k_max=2, description_level="paragraph"))
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_example_loads(exp_dir):
    assert len(load(exp_dir).active_concepts()) == 3


def test_missing_column(exp_dir):
    path = exp_dir / "data/1_raw/concepts_metadata.csv"
    edit(path, "concept_id,name,active", "concept_id,name,enabled")
    expect(exp_dir, "concepts_metadata.csv", "field 'active'", "missing required column")


def test_bad_boolean_names_row(exp_dir):
    edit(exp_dir / "data/1_raw/concepts_metadata.csv", "beta,Beta,true", "beta,Beta,maybe")
    expect(exp_dir, "concepts_metadata.csv", "row 2 (line 3)", "field 'active'", "'maybe'")


def test_duplicate_id(exp_dir):
    path = exp_dir / "data/1_raw/llm_models.csv"
    path.write_text(path.read_text() + "gen-off,offline/x,offline,Dup,false,false\n")
    expect(exp_dir, "llm_models.csv", "row 3", "field 'id'", "duplicate id 'gen-off'")


def test_unsafe_template_id(exp_dir):
    edit(exp_dir / "data/1_raw/evaluation_templates.csv", "judge-a,", "../judge-a,")
    expect(exp_dir, "evaluation_templates.csv", "row 1", "field 'template_id'", "unsafe id")


def test_unsafe_model_id(exp_dir):
    edit(exp_dir / "data/1_raw/llm_models.csv", "gen-off,", "gen/off,")
    expect(exp_dir, "llm_models.csv", "row 1", "field 'id'")


def test_missing_template_file(exp_dir):
    (exp_dir / "templates/evaluation/judge-b.txt").unlink()
    expect(exp_dir, "evaluation_templates.csv", "row 2", "field 'template_id'", "judge-b.txt")


def test_undefined_template_variable(exp_dir):
    write(exp_dir / "templates/essay/plain-essay.txt", "Essay from {{ draft_blok }}\n")
    expect(exp_dir, "plain-essay.txt", "field 'draft_blok'", "undefined template variable")


def test_template_syntax_error(exp_dir):
    write(exp_dir / "templates/draft/ideas.txt", "line one\n{% for c in concepts %}\nno end\n")
    expect(exp_dir, "ideas.txt", "template syntax error")


def test_unknown_parser(exp_dir):
    edit(exp_dir / "data/1_raw/evaluation_templates.csv", "in_last_line", "last_line")
    expect(exp_dir, "evaluation_templates.csv", "row 1", "field 'parser'", "unknown evaluation parser")


def test_copy_generator_outside_essay(exp_dir):
    edit(exp_dir / "data/1_raw/draft_templates.csv", ",llm,true", ",copy,true")
    expect(exp_dir, "draft_templates.csv", "field 'generator'")


def test_non_utf8_file(exp_dir):
    path = exp_dir / "data/1_raw/concepts_metadata.csv"
    path.write_bytes(path.read_bytes() + "epsilon,\u00c9psilon,true\n".encode("latin-1"))
    expect(exp_dir, "concepts_metadata.csv", "not valid UTF-8", "line 6")


def test_ragged_csv_row(exp_dir):
    path = exp_dir / "data/1_raw/replication_config.csv"
    path.write_text("stage,replicates\ndraft,1,extra\nessay,1\nevaluation,1\n")
    expect(exp_dir, "replication_config.csv", "row 1 (line 2)", "malformed CSV")


def test_bad_replicates(exp_dir):
    path = exp_dir / "data/1_raw/replication_config.csv"
    path.write_text("stage,replicates\ndraft,0\nessay,1\nevaluation,1\n")
    expect(exp_dir, "replication_config.csv", "row 1", "field 'replicates'")


def test_concept_without_description(exp_dir):
    for level in ("paragraph", "sentence"):
        (exp_dir / f"data/1_raw/concepts/descriptions-{level}/gamma.txt").unlink()
    expect(exp_dir, "concepts_metadata.csv", "gamma", "no description")


def test_no_evaluation_model(exp_dir):
    edit(
        exp_dir / "data/1_raw/llm_models.csv",
        "judge-off,offline/judge,offline,Judge,false,true",
        "judge-off,offline/judge,offline,Judge,false,false",
    )
    expect(exp_dir, "llm_models.csv", "for_evaluation")


def test_unknown_provider_is_an_error_unless_default_provider_routes_it(exp_dir):
    """A typo (`vlm` for `vllm`) must not send a model to the paid default provider."""
    edit(exp_dir / "data/1_raw/llm_models.csv", "gen-off,offline/gen,offline", "gen-off,x/gen,vlm")
    with pytest.raises(InputError) as info:
        check_endpoints(load(exp_dir), validate_config({}))
    assert "llm_models.csv" in str(info.value) and "field 'provider'" in str(info.value)
    assert "provider 'vlm' is not configured" in str(info.value)
    routed = check_endpoints(load(exp_dir), validate_config({"default_provider": "openrouter"}))
    assert routed["gen-off"].name == "openrouter"


def test_selected_combos_unknown_concept(exp_dir):
    write(
        exp_dir / "data/2_tasks/selected_combo_mappings.csv",
        "combo_id,version,concept_id,description_level,k_max,created_at\n"
        "combo_v1_x,v1,alpha,paragraph,2,\ncombo_v1_x,v1,omega,paragraph,2,\n",
    )
    expect(exp_dir, "selected_combo_mappings.csv", "row 2", "field 'concept_id'", "omega")


def test_curated_missing_metadata_names_gen_and_field(exp_dir):
    write(exp_dir / "data/2_tasks/selected_essays.txt", "# curated\nabc123\n")
    write(exp_dir / "data/gens/essay/abc123/metadata.json", '{"parent_gen_id": "d1"}')
    expect(exp_dir, "essay abc123", "template_id", "metadata.json")


def test_curated_missing_store_entry(exp_dir):
    write(exp_dir / "data/2_tasks/selected_essays.txt", "nothere\n")
    expect(exp_dir, "essay nothere", "metadata.json not found")


def test_curated_unsafe_gen_id(exp_dir):
    write(exp_dir / "data/2_tasks/selected_essays.txt", "ok1\n../../etc\n")
    expect(exp_dir, "selected_essays.txt", "line 2", "unsafe gen_id")


def test_combo_mapping_collision(tmp_path):
    path = tmp_path / "combo_mappings.csv"
    update_combo_mappings(path, [Combo("combo_v1_same", ("a", "b"), "paragraph", 2)], "t0")
    with pytest.raises(InputError, match="collision"):
        update_combo_mappings(path, [Combo("combo_v1_same", ("a", "c"), "paragraph", 2)], "t1")


def test_k_max_larger_than_active_concepts(exp_dir):
    with pytest.raises(InputError, match="k_max=4"):
        plan_cohort(load(exp_dir), cohort_settings(k_max=4, description_level="paragraph"))


def test_config_schema_errors_name_the_key():
    with pytest.raises(ValueError, match="description_level"):
        validate_config({"description_level": "chapter"})
    with pytest.raises(ValueError, match="stages.draft"):
        validate_config({"stages": {"draft": {"max_tokns": 5}}})


def test_curated_unknown_template_names_table(exp_dir):
    curated_store(exp_dir / "data", essay_template="gone-essay")
    expect(exp_dir, "essay_templates.csv", "gone-essay", "field 'template_id'")


def test_curated_unsafe_parent_in_store_metadata(exp_dir):
    write(exp_dir / "data/2_tasks/selected_essays.txt", "e1\n")
    write(
        exp_dir / "data/gens/essay/e1/metadata.json", '{"parent_gen_id": "../../../etc", "template_id": "plain-essay"}'
    )
    expect(exp_dir, "essay e1", "unsafe parent_gen_id", "field 'parent_gen_id'")


@pytest.mark.parametrize(
    "body,fragments",
    [
        ("{{ cycler.__init__.__globals__.os.popen('id').read() }}\n", ["refused by the sandbox", "unsafe"]),
        ("{{ ''.__class__.__mro__ }}\n", ["refused by the sandbox"]),
        ("Intro\n{% include 'other.txt' %}\n", ["line 2", "cannot include"]),
        ("{% import 'macros.txt' as m %}\n", ["line 1", "cannot import"]),
        ("{% for c in concepts %}{{ c.nmae }}{% endfor %}\n", ["fails with sample values", "nmae"]),
        ("{{ 'x' * 10**10 }}\n", ["refused by the sandbox", "repetition of 10,000,000,000"]),
        ("{{ 2 ** 100000000 }}\n", ["refused by the sandbox", "exponent 100000000"]),
        ("{% for i in range(90000) %}{% for j in range(90000) %}{% endfor %}{% endfor %}", ["range() items"]),
        ("{% for i in range(99999) %}{{ concepts }}{% endfor %}", ["longer than 2,000,000 characters"]),
    ],
)
def test_template_that_would_misbehave_is_refused_before_any_job(exp_dir, body, fragments):
    (exp_dir / "templates/draft/ideas.txt").write_text(body)
    expect(exp_dir, "ideas.txt", *fragments)


def test_duplicated_header_column_is_refused(exp_dir):
    edit(exp_dir / "data/1_raw/concepts_metadata.csv", "concept_id,name,active", "concept_id,name,active,name")
    path = exp_dir / "data/1_raw/concepts_metadata.csv"
    path.write_text("\n".join(line + ",x" if i else line for i, line in enumerate(path.read_text().splitlines())))
    expect(exp_dir, "concepts_metadata.csv", "line 1", "field 'name'", "duplicate column")


def test_huge_replicate_count_is_refused_at_once(exp_dir):
    edit(exp_dir / "data/1_raw/replication_config.csv", "draft,1", "draft,99999999999")
    expect(exp_dir, "replication_config.csv", "row 1", "field 'replicates'", "from 1 to 100")


def test_overlong_id_is_named_not_a_file_system_error(exp_dir):
    long_id = "a" * 300
    edit(exp_dir / "data/1_raw/draft_templates.csv", "ideas,Ideas", f"{long_id},Ideas")
    message = expect(exp_dir, "draft_templates.csv", "row 1", "field 'template_id'", "300 characters", "1 to 100")
    assert long_id not in message  # the error stays one readable line


def test_cube_over_max_generations_is_refused_with_its_size(exp_dir):
    # 3 combos x 1 draft template x 1 model = 3 drafts, x 2 essay templates = 6 essays, x 2 x 1 = 12 evaluations
    settings = cohort_settings(k_max=2, description_level="paragraph")
    experiment = load(exp_dir)
    assert len(plan_cohort(experiment, settings, max_generations=21).combos) == 3
    with pytest.raises(InputError) as info:
        plan_cohort(experiment, settings, max_generations=20)
    assert "21 generations (3 drafts, 6 essays, 12 evaluations)" in str(info.value)
    assert "max_generations=20" in str(info.value)


def test_cube_size_is_checked_before_combos_are_enumerated(exp_dir, monkeypatch):
    """60 active concepts, k_max 6: 50 million combos. Refused from arithmetic alone, not after
    enumerating them (which would take minutes and gigabytes)."""

    def enumerating(*args):
        raise AssertionError("combos enumerated before the cube's size was checked")

    monkeypatch.setattr("daydream.planning.cohort.all_combos", enumerating)
    rows = ["concept_id,name,active"] + [f"c{n},C{n},true" for n in range(60)]
    write(exp_dir / "data/1_raw/concepts_metadata.csv", "\n".join(rows) + "\n")
    with pytest.raises(InputError, match=r"would have 350,447,020 generations .* max_generations=50,000"):
        plan_cohort(load(exp_dir), cohort_settings(k_max=6, description_level="paragraph"), max_generations=50000)


@pytest.mark.parametrize(
    "row,field",
    [
        ("combo_v1_x,v1,../../secret,paragraph,2,", "concept_id"),
        ("combo_v1_x,v1,alpha,../../x,2,", "description_level"),
        ("combo_v1_x,v1,alpha,paragraph,two,", "k_max"),
    ],
)
def test_combo_mappings_rows_are_checked_before_any_file_is_opened(exp_dir, row, field):
    """combo_mappings.csv is a generated file a user may edit; in curated mode its concept ids
    become description file paths."""
    data = curated_store(exp_dir / "data", essay_template="plain-essay")
    write(data / "combo_mappings.csv", f"combo_id,version,concept_id,description_level,k_max,created_at\n{row}\n")
    expect(exp_dir, "combo_mappings.csv", "row 1", f"field '{field}'")


@pytest.mark.parametrize(
    "config,fragments",
    [
        ({"data_root": "runs/{x}"}, ["data_root", "brace"]),
        ({"results_dir": "out/{stage}"}, ["results_dir", "brace"]),
        ({"providers": {"mem_mb": {"base_url": "http://127.0.0.1:1/v1"}}}, ["providers.mem_mb", "Snakemake"]),
        ({"providers": {"generate_jobs": {"base_url": "http://127.0.0.1:1/v1"}}}, ["providers.generate_jobs"]),
        ({"providers": {"vllm": {"base_url": "127.0.0.1:8000/v1"}}}, ["providers.vllm.base_url"]),
        ({"max_generations": 0}, ["max_generations"]),
    ],
)
def test_config_values_that_would_misbehave_are_refused(config, fragments):
    with pytest.raises(ValueError) as info:
        validate_config(config)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_symlinks_are_followed_only_inside_the_experiment(exp_dir, tmp_path_factory):
    """A shared experiment whose concept description or template is a symlink to a file
    elsewhere (a key, a private document) must not put that file into a prompt."""
    secret = tmp_path_factory.mktemp("home") / "private.txt"
    secret.write_text("PRIVATE\n")
    description = exp_dir / "data/1_raw/concepts/descriptions-paragraph/alpha.txt"
    sibling = description.with_name("alpha-copy.txt")
    description.rename(sibling)
    description.symlink_to(sibling)  # inside the data root: fine
    expect_ok = load(exp_dir)
    plan_cohort(expect_ok, cohort_settings(k_max=2, description_level="paragraph"))
    description.unlink()
    description.symlink_to(secret)
    expect(exp_dir, "alpha.txt", "outside", "private.txt")
    description.unlink()
    sibling.rename(description)
    template = exp_dir / "templates/evaluation/judge-a.txt"
    secret.write_text("{{ response }} PRIVATE\n")
    template.unlink()
    template.symlink_to(secret)
    expect(exp_dir, "judge-a.txt", "outside")
