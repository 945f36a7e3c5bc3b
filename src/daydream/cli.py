"""The `daydream` command: check an experiment, plan combos, parse a score, build score tables."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from daydream.errors import InputError
from daydream.fileio import exists
from daydream.store.layout import StoreLayout
from daydream.text.parsers import SCORE_PARSERS, ParseError, format_score, parse_score

DEFAULT_CONFIG = Path("config/config.yaml")


def _load_config(args) -> dict:
    from daydream.config import read_config_file, validate_config

    if args.config:
        config = read_config_file(args.config)
    else:
        config = read_config_file(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else {}
    for key in ("data_root", "templates_root", "k_max", "description_level"):
        value = getattr(args, key, None)
        if value is not None:
            config[key] = value
    return validate_config(config)


def cmd_check(args) -> int:
    from daydream.planning.cohort import combo_levels
    from daydream.stages import MODEL_ROLES, STAGES
    from daydream.store.membership import stage_counts

    config = _load_config(args)
    setup = _setup(config)
    experiment, endpoints, plan = setup.experiment, setup.endpoints, setup.cohort
    fallbacks = []
    for combo in plan.combos:
        for concept_id, level, _ in combo_levels(experiment, combo):
            if level != combo.description_level:
                fallbacks.append(f"{concept_id} ({combo.description_level} -> {level})")
    rows = setup.membership_rows()
    n = stage_counts(rows)
    out = sys.stdout
    active = experiment.active_concepts()
    print(f"experiment: {Path(config['data_root']).resolve()}", file=out)
    print(
        f"active concepts ({len(active)} of {len(experiment.concepts)}): " + ", ".join(c.concept_id for c in active),
        file=out,
    )
    print(f"description level: {config['description_level']}; k_max: {config['k_max']}", file=out)
    if fallbacks:
        print("description fallbacks: " + ", ".join(sorted(set(fallbacks))), file=out)
    for stage in STAGES:
        templates = experiment.active_templates(stage)
        listed = ", ".join(f"{t.template_id} [{t.generator}{', ' + t.parser if t.parser else ''}]" for t in templates)
        print(f"{stage} templates ({len(templates)}): {listed}", file=out)
    for role in MODEL_ROLES:
        models = experiment.models_for(role)
        listed = ", ".join(f"{m.model_id} ({endpoints[m.model_id].name})" for m in models)
        print(f"{role} models ({len(models)}): {listed}", file=out)
    print("replicates: " + ", ".join(f"{s}={experiment.replicates[s]}" for s in STAGES), file=out)
    print(f"cohort: {plan.cohort_id} ({plan.mode}, {len(plan.combos)} combos)", file=out)
    calls = sum(1 for r in rows if experiment.template(r.stage, r.template_id).generator == "llm")
    print(f"cube: {', '.join(f'{n[stage]} {stage}s' for stage in STAGES)}; LLM calls: {calls}", file=out)
    print("OK", file=out)
    return 0


def cmd_parse_score(args) -> int:
    """The score a response parses to, its thinking blocks taken out as a run takes them."""
    from daydream.tables import read_text
    from daydream.text.reasoning import split_reasoning

    try:
        answer = split_reasoning(read_text(Path(args.file)), None, args.reasoning_tag).answer
        score = parse_score(answer, args.parser)
    except ParseError as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    print(format_score(score))
    return 0


def cmd_results(args) -> int:
    """Score tables now (even mid-run): the cohort's, in its reports/ folder, or with --all every
    cohort's in results_dir."""
    from daydream.analysis.registry import write_results
    from daydream.config import results_dir
    from daydream.store.membership import read_membership

    config = _load_config(args)
    if args.all:
        write_results(
            config["data_root"],
            results_dir(config),
            None,
            config["compare_templates"],
            config["top_n"],
            config["statistics"],
        )
        return 0
    cohort_id, membership = _cohort_membership(config, args)
    _require_planned(cohort_id, membership)
    rows = read_membership(membership)
    write_results(
        config["data_root"],
        StoreLayout(config["data_root"]).reports_dir(cohort_id),
        rows,
        config["compare_templates"],
        config["top_n"],
        config["statistics"],
    )
    return 0


def cmd_plan(args) -> int:
    """What the cohort will still call and cost; also written to <cohort>/plan.csv."""
    from daydream.planning.cost_plan import write_plan

    config = _load_config(args)
    print(write_plan(_setup(config).cost_plan(), config["data_root"]))
    return 0


def cmd_batches(args) -> int:
    """The store's batches (newest last): open ones are in flight and collected by the next run;
    --cancel cancels the open ones at their providers."""
    from daydream.calling.batching import cancel_batches
    from daydream.store import batches
    from daydream.store.layout import StoreLayout

    config = _load_config(args)
    store = StoreLayout(config["data_root"])
    if args.cancel:
        count = cancel_batches(store, config, args.provider)
        print(f"{count} open batch(es) cancelled; the next run collects what they answered")
        return 0
    found = batches.ledgers(store, args.provider)
    for ledger in found:
        print(batches.describe(ledger) + (f", {len(ledger.unanswered)} unanswered" if ledger.unanswered else ""))
    open_count = sum(ledger.open for ledger in found)
    print(
        f"{len(found)} batch(es), {open_count} open"
        + (": the same snakemake command collects them" if open_count else "")
    )
    return 0


def cmd_cost(args) -> int:
    """Recorded spend per stage and model: the cohort's, then the whole store's."""
    from daydream.analysis.status import cohort_metadata_paths, format_spend, spend_rows, store_metadata_paths
    from daydream.store.membership import read_membership

    config = _load_config(args)
    data_root = config["data_root"]
    cohort_id, membership = _cohort_membership(config, args)
    if exists(membership):
        rows = spend_rows(cohort_metadata_paths(data_root, read_membership(membership)))
        print(format_spend(rows, f"cohort {cohort_id}"))
    else:
        print(f"cohort {cohort_id}: not planned yet")
    print(format_spend(spend_rows(store_metadata_paths(data_root)), f"whole store {data_root}"))
    return 0


def _cohort_membership(config: dict, args) -> tuple[str, Path]:
    """The cohort asked for (--cohort), else the one the config plans, and its membership.csv."""
    cohort_id = _cohort_arg(args.cohort) if args.cohort else _planned_cohort(config)
    return cohort_id, StoreLayout(config["data_root"]).membership(cohort_id)


def _cohort_arg(value: str) -> str:
    """--cohort names a cohort of the data root: an id, never a path."""
    from daydream import ids

    if not ids.is_safe_id(value):
        raise InputError(ids.unsafe_id_message(value, "cohort id"), field="--cohort")
    return value


def _require_planned(cohort_id: str, membership: Path) -> None:
    if not exists(membership):
        raise InputError(f"cohort {cohort_id} is not planned yet: run `snakemake cohort`", file=membership)


def _planned_cohort(config: dict) -> str:
    """The cohort the config plans, as snakemake does (DD_COHORT included)."""
    return _setup(config).cohort_id


def _setup(config: dict):
    """The run's setup, as snakemake makes it (DD_COHORT included)."""
    from daydream.planning.setup import load_setup

    return load_setup(config, os.environ.get("DD_COHORT"))


def cmd_status(args) -> int:
    """A cohort's generations by state, from its files (works during a run)."""
    from daydream.analysis.status import cohort_status, format_status
    from daydream.store import batches
    from daydream.store.layout import StoreLayout
    from daydream.store.membership import read_membership

    config = _load_config(args)
    cohort_id, membership = _cohort_membership(config, args)
    _require_planned(cohort_id, membership)
    status = cohort_status(config["data_root"], cohort_id, read_membership(membership))
    print(format_status(status))
    in_flight = batches.open_ledgers(StoreLayout(config["data_root"]))
    if in_flight:
        requests = sum(len(ledger.items) for ledger in in_flight)
        print(f"batches in flight: {len(in_flight)} ({requests} requests; the same snakemake command collects them)")
    return 0


def cmd_review(args) -> int:
    """Serve the review app for a cohort until Ctrl-C."""
    import getpass
    import secrets

    from daydream.review.app import ReviewSettings, create_app, is_loopback, serve
    from daydream.review.essays import CohortEssays

    config = _load_config(args)
    cohort_id, membership = _cohort_membership(config, args)
    _require_planned(cohort_id, membership)
    token = None
    if not is_loopback(args.host):
        if not args.allow_remote:
            raise InputError(
                f"the review app listens on loopback only; {args.host} would let others on the network read the "
                "essays and label them: add --allow-remote (every request then needs the access token)",
                field="--host",
            )
        token = os.environ.get("DAYDREAM_REVIEW_TOKEN") or secrets.token_urlsafe(24)
    essays = CohortEssays(config["data_root"], cohort_id, config["top_n"], config["statistics"])
    settings = ReviewSettings(str(config["data_root"]), cohort_id, args.reviewer or getpass.getuser(), token)

    def announce(address: str) -> None:
        where = f"{address}?token={token}" if token else address
        print(f"reviewing {len(essays.entries)} essays of cohort {cohort_id} at {where} (Ctrl-C stops)", flush=True)

    serve(create_app(essays, settings), args.host, args.port, announce)
    return 0


def cmd_select_top(args) -> int:
    """Rank the stored essays, write the candidate list and the selection file made from it."""
    from daydream.analysis.scores import score_rows, scores_frame
    from daydream.analysis.selection import (
        candidates_csv,
        choose,
        rank_essays,
        selected_from_candidates,
        selection_text,
    )
    from daydream.analysis.stability import stability_verdict, top_shares
    from daydream.analysis.uncertainty import rng_for
    from daydream.fileio import write_atomic

    config = _load_config(args)
    out = StoreLayout(config["data_root"]).selected_essays
    if args.from_candidates:
        chosen = selected_from_candidates(Path(args.from_candidates))
        write_atomic(out, selection_text(chosen, f"marked selected in {args.from_candidates}"))
    else:
        templates = _names(args.evaluation_templates)
        models = _names(args.evaluation_models)
        scores = scores_frame(score_rows(config["data_root"]))  # every cohort's evaluations in the store
        ranked = rank_essays(scores, templates, models, args.aggregate)
        n = args.n if args.n is not None or args.score_span is not None else config["top_n"]
        how = f"{args.aggregate} over evaluators {templates or 'all templates'} x {models or 'all models'}"
        if args.human:
            ranked, human_n, said = _by_human_labels(config["data_root"], ranked, args.human)
            n = n if args.n is not None or args.score_span is not None or human_n is None else human_n
            how = f"{said}; {how}"
        chosen = choose(ranked, n, args.score_span)
        how += f"; top {n}" if n is not None else ""
        how += f"; within {args.score_span:g} of the best" if args.score_span is not None else ""
        statistics = config["statistics"]
        rng = rng_for(statistics["seed"], "select-top")
        shares = top_shares(scores, len(chosen), statistics["resamples"], rng, templates, models, args.aggregate)
        candidates = StoreLayout(config["data_root"]).selection_candidates
        write_atomic(candidates, candidates_csv(ranked, chosen, shares))
        write_atomic(out, selection_text(chosen, f"{how}; from {candidates}"))
        print(f"{len(ranked)} essays ranked -> {candidates} (edit `selected`, then: select-top --from-candidates)")
        verdict, stable = stability_verdict(chosen, shares, statistics["stable_share"])
        print(f"stability: {verdict} (judges and replicates resampled {statistics['resamples']} times)")
        if not stable:
            print(
                "warning: the chosen set is not stable: fewer than half of it is reliably in the top; more "
                "evaluation replicates or judges would tell the essays apart (or choose fewer)",
                file=sys.stderr,
            )
    print(
        f"{len(chosen)} essays -> {out}; the next run is a curated cohort of them: with curated_mode regenerate "
        "(the default) their drafts and essays are made again under new ids; with curated_mode evaluate "
        "(--config curated_mode=evaluate) the stored essays are scored again as they are, only evaluation calls. "
        "Delete the file to go back."
    )
    return 0


def _by_human_labels(data_root, ranked, mode: str):
    """The ranked essays the reviewers' labels allow, how many to take by default (every accepted
    one; None: the usual top_n) and a phrase for the selection file."""
    from daydream.store.labels import store_labels, verdicts

    states = {gen_id: verdict.state for gen_id, verdict in verdicts(store_labels(data_root)).items()}
    if mode == "accepted":
        accepted = [gen_id for gen_id, state in states.items() if state == "accepted"]
        kept = ranked[ranked["essay_gen_id"].isin(accepted)]
        if kept.empty:
            raise InputError(
                "no scored essay is accepted (and by no one rejected) in any cohort's human_labels.csv: "
                "label some first (daydream review)"
            )
        return kept, len(kept), f"accepted by a reviewer, rejected by none ({len(kept)} scored)"
    rejected = {gen_id for gen_id, state in states.items() if state == "rejected"}
    kept = ranked[~ranked["essay_gen_id"].isin(rejected)]
    return kept, None, f"none a reviewer rejected ({len(ranked) - len(kept)} rejected left out)"


def _names(value: str | None) -> list[str] | None:
    return [name.strip() for name in value.split(",") if name.strip()] if value else None


def cmd_export(args) -> int:
    """Copy chosen essays with their drafts, prompts and evaluations into a folder to read."""
    from daydream.analysis.scores import score_rows, scores_frame
    from daydream.analysis.selection import export_essays, read_essay_list

    config = _load_config(args)
    essays = read_essay_list(Path(args.essays))
    written = export_essays(config["data_root"], essays, scores_frame(score_rows(config["data_root"])), args.out)
    print(f"{len(written)} essays -> {args.out} (each folder: summary.md, essay.txt, draft.txt, prompts, evaluations/)")
    return 0


def cmd_store_check(args) -> int:
    """Inconsistencies of the gens store; exit 1 when there are any."""
    from daydream.store.housekeeping import check_store

    config = _load_config(args)
    problems = check_store(config["data_root"])
    by_kind: dict[str, list] = {}
    for problem in problems:
        by_kind.setdefault(problem.kind, []).append(problem)
    for kind, found in sorted(by_kind.items()):
        print(f"{kind} ({len(found)}):")
        for problem in found:
            print(f"  {problem.stage} {problem.gen_id}: {problem.detail}")
    print(f"{len(problems)} finding(s) in {Path(config['data_root']) / 'gens'}")
    return 1 if problems else 0


def cmd_store_reindex(args) -> int:
    """The response index rebuilt from the archive files; then every raw.txt in no archived
    response archived as the answer to the prompt beside it (with the experiment's requests)."""
    import time

    from daydream.store.index import index_of

    config = _load_config(args)
    store = StoreLayout(config["data_root"])
    started = time.monotonic()
    report = index_of(store).rebuild()
    print(
        f"{report.responses} responses in {report.folders_scanned} generation folders indexed "
        f"in {time.monotonic() - started:.1f} s -> {store.index_file}"
    )
    try:
        setup = _setup(config)
    except InputError as error:
        print(f"raw.txt files without an archived response were not looked for: {error}")
        return 0
    written = setup.prepare_store(setup.membership_rows())
    print(f"{len(written)} raw.txt archived as the answer to the prompt beside it")
    return 0


def cmd_redo(args) -> int:
    """Mark chosen generations of a cohort for a new call at the next run (a dry run unless --yes):
    by gen_id, or evaluations chosen by a filter over the cohort's score table."""
    from daydream.analysis.scores import score_rows, scores_frame
    from daydream.analysis.selection import evaluations_matching
    from daydream.planning.stored import read_selected_essays
    from daydream.store.housekeeping import mark_for_redo
    from daydream.store.membership import read_membership
    from daydream.store.run_lock import CohortBusy, acquire_run_lock

    config = _load_config(args)
    cohort_id, membership = _cohort_membership(config, args)
    _require_planned(cohort_id, membership)
    rows = {row.gen_id: row for row in read_membership(membership)}
    chosen: list[str] = []
    if args.gen_ids:
        for gen_id in read_selected_essays(Path(args.gen_ids)):
            if gen_id not in rows:
                raise InputError(f"{gen_id} is not a generation of cohort {cohort_id}", file=args.gen_ids)
            chosen.append(gen_id)
    filters = (args.evaluation_templates, args.evaluation_models, args.score_above, args.score_below, args.failed)
    if any(value not in (None, False) for value in filters):
        evaluations = [gen_id for gen_id, row in rows.items() if row.stage == "evaluation"]
        scores = scores_frame(score_rows(config["data_root"], evaluations))
        chosen += evaluations_matching(
            scores,
            _names(args.evaluation_templates),
            _names(args.evaluation_models),
            args.score_above,
            args.score_below,
            args.failed,
        )
    if not args.gen_ids and not any(value not in (None, False) for value in filters):
        raise InputError(
            "name the generations: --gen-ids FILE, or a filter (--evaluation-templates, --score-above, ...)"
        )
    chosen = list(dict.fromkeys(chosen))
    by_stage: dict[str, int] = {}
    for gen_id in chosen:
        by_stage[rows[gen_id].stage] = by_stage.get(rows[gen_id].stage, 0) + 1
    counted = ", ".join(f"{n} {stage}s" for stage, n in by_stage.items()) or "no generation"
    if not args.yes:
        for gen_id in chosen[:20]:
            print(f"would mark {rows[gen_id].stage} {gen_id}")
        more = f" (and {len(chosen) - 20} more)" if len(chosen) > 20 else ""
        print(f"would mark {counted} of cohort {cohort_id}{more} for a new call at the next run; --yes to do it")
        return 0
    try:
        lock = acquire_run_lock(StoreLayout(config["data_root"]), cohort_id, os.getcwd())
    except CohortBusy as busy:
        raise InputError(str(busy)) from None
    try:
        reason = " ".join(sys.argv[1:]) or "daydream redo"
        marked = mark_for_redo(config["data_root"], [(rows[g].stage, g) for g in chosen], reason)
    finally:
        lock.release()
    print(
        f"marked {counted} of cohort {cohort_id} ({marked}): the next run calls again for exactly these "
        "(and renders again what reads them); every older response stays in their responses/"
    )
    return 0


def cmd_purge(args) -> int:
    """Remove a cohort's generations (not what another cohort uses, not the responses/ archives
    unless asked); a dry run unless --yes."""
    from daydream.store.housekeeping import purge, purge_plan

    config = _load_config(args)
    cohort_id = _cohort_arg(args.cohort)
    remove, kept = purge_plan(config["data_root"], cohort_id)
    for stage, gen_id, why in kept:
        print(f"keep {stage} {gen_id}: {why}")
    archives = "with their responses/ archives" if args.include_responses else "keeping their responses/ archives"
    if not args.yes:
        print(f"would remove {len(remove)} generations of cohort {cohort_id} ({archives}); --yes to do it")
        return 0
    removed = purge(config["data_root"], cohort_id, remove, include_responses=args.include_responses)
    print(f"removed {removed} generations of cohort {cohort_id} ({archives}); kept {len(kept)} used elsewhere")
    return 0


def cmd_plan_combos(args) -> int:
    from daydream.experiment.cover import cover_combos
    from daydream.experiment.definition import load_experiment

    config = _load_config(args)
    t = args.cover_t or config["cover_t"]
    limit = args.time_limit or config["cover_time_limit_s"]
    experiment = load_experiment(config["data_root"], config["templates_root"])
    combos, sel = cover_combos(experiment, config["k_max"], config["description_level"], t, limit)
    n = len(experiment.active_concepts())
    print(
        f"cover of every {t}-subset of {n} active concepts by {config['k_max']}-combos: {sel['size']} combos "
        f"(full set: {sel['full_size']}); lower bound {sel['lower_bound']}, gap {sel['gap']:.1%}, "
        f"{sel['status']}, {sel['time_s']:.2f} s of {limit:g} s"
    )
    for combo in combos:
        print(f"{combo.combo_id}  {' + '.join(combo.concept_ids)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="daydream", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def cohort_arg(p):
        p.add_argument("--cohort", help="cohort id (default: the cohort the config plans, as snakemake does)")

    def experiment_args(p):
        p.add_argument("--config", help="config file (default: config/config.yaml when it exists)")
        p.add_argument("--data-root", dest="data_root")
        p.add_argument("--templates-root", dest="templates_root")
        p.add_argument("--k-max", dest="k_max", type=int)
        p.add_argument("--description-level", dest="description_level")

    check = sub.add_parser("check", help="validate an experiment directory and summarise its cube")
    experiment_args(check)
    check.set_defaults(func=cmd_check)

    plan = sub.add_parser("plan-combos", help="print the covering selection of combos (no workflow run)")
    experiment_args(plan)
    plan.add_argument("--cover-t", dest="cover_t", type=int, help="cover every t-subset (default: config cover_t)")
    plan.add_argument("--time-limit", dest="time_limit", type=float, help="solver seconds (default: config)")
    plan.set_defaults(func=cmd_plan_combos)

    score = sub.add_parser("parse-score", help="print the score an evaluation response parses to")
    score.add_argument("--parser", required=True, choices=sorted(SCORE_PARSERS))
    score.add_argument("--reasoning-tag", default="think", help="thinking blocks to take out first (none: keep)")
    score.add_argument("file")
    score.set_defaults(func=cmd_parse_score)

    results = sub.add_parser("results", help="write a cohort's score tables now (even mid-run), or --all cohorts'")
    experiment_args(results)
    cohort_arg(results)
    results.add_argument("--all", action="store_true", help="every cohort in the store, into results_dir")
    results.set_defaults(func=cmd_results)

    plan_cost = sub.add_parser(
        "plan", help="pending LLM calls and their estimated tokens and cost, per stage and model"
    )
    experiment_args(plan_cost)
    plan_cost.set_defaults(func=cmd_plan)

    batch = sub.add_parser("batches", help="the store's batches (batch mode): open, collected, cancelled; --cancel")
    experiment_args(batch)
    batch.add_argument("--cancel", action="store_true", help="cancel every open batch at its provider")
    batch.add_argument("--provider", help="only this provider's batches")
    batch.set_defaults(func=cmd_batches)

    cost = sub.add_parser("cost", help="recorded cost and tokens per stage and model: the cohort's and the store's")
    experiment_args(cost)
    cohort_arg(cost)
    cost.set_defaults(func=cmd_cost)

    status = sub.add_parser("status", help="a cohort's generations: planned, done, failed (why), pending; spend")
    experiment_args(status)
    cohort_arg(status)
    status.set_defaults(func=cmd_status)

    top = sub.add_parser(
        "select-top", help="rank essays by their scores; write 2_tasks/selection_candidates.csv and selected_essays.txt"
    )
    experiment_args(top)
    top.add_argument("--n", type=int, help="how many essays (default: config top_n, unless --score-span is given)")
    top.add_argument("--score-span", type=float, help="every essay whose score is within this of the best")
    top.add_argument("--evaluation-templates", help="comma-separated evaluation templates to rank by (default: all)")
    top.add_argument("--evaluation-models", help="comma-separated evaluation models to rank by (default: all)")
    top.add_argument(
        "--aggregate", choices=["mean", "max"], default="mean", help="across evaluators (each: mean of its replicates)"
    )
    top.add_argument("--from-candidates", help="make the selection file from an edited candidate list instead")
    top.add_argument(
        "--human",
        choices=["accepted", "not-rejected"],
        help="from the reviewers' labels (every cohort's human_labels.csv): the essays accepted (and by no one "
        "rejected), best first; or the top essays no reviewer rejected",
    )
    top.set_defaults(func=cmd_select_top)

    review = sub.add_parser(
        "review", help="a local web app to read a cohort's essays and record verdicts (human_labels.csv)"
    )
    experiment_args(review)
    cohort_arg(review)
    review.add_argument("--port", type=int, default=8765, help="port (0: any free one; the address is printed)")
    review.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback only)")
    review.add_argument(
        "--allow-remote",
        action="store_true",
        help="listen on an address beyond loopback; every request must then carry the access token "
        "(DAYDREAM_REVIEW_TOKEN, else one made up and printed)",
    )
    review.add_argument("--reviewer", help="the name labels are saved under (default: your login name)")
    review.set_defaults(func=cmd_review)

    store = sub.add_parser("store", help="housekeeping of the gens store")
    store_commands = store.add_subparsers(dest="store_command", required=True)
    store_check = store_commands.add_parser(
        "check", help="missing parents, orphans, metadata contradicting membership, raw without parsed, duplicates"
    )
    experiment_args(store_check)
    store_check.set_defaults(func=cmd_store_check)

    reindex = store_commands.add_parser(
        "reindex", help="rebuild the response index from the archive files (and archive raws found without one)"
    )
    experiment_args(reindex)
    reindex.set_defaults(func=cmd_store_reindex)

    redo = sub.add_parser("redo", help="mark chosen generations for a new call at the next run (dry run unless --yes)")
    experiment_args(redo)
    cohort_arg(redo)
    redo.add_argument("--gen-ids", help="a file of gen_ids of the cohort, one a line (# comments)")
    redo.add_argument("--evaluation-templates", help="evaluations of these templates (comma-separated)")
    redo.add_argument("--evaluation-models", help="evaluations by these models (comma-separated)")
    redo.add_argument("--score-above", type=float, help="evaluations whose score is above this")
    redo.add_argument("--score-below", type=float, help="evaluations whose score is below this")
    redo.add_argument("--failed", action="store_true", help="evaluations with no score")
    redo.add_argument("--yes", action="store_true", help="really mark them (default: only list)")
    redo.set_defaults(func=cmd_redo)

    purge = sub.add_parser("purge", help="remove a cohort's generations (dry run unless --yes)")
    experiment_args(purge)
    purge.add_argument("--cohort", required=True)
    purge.add_argument("--yes", action="store_true", help="really remove (default: only list)")
    purge.add_argument("--include-responses", action="store_true", help="remove the paid responses/ archives too")
    purge.set_defaults(func=cmd_purge)

    export = sub.add_parser("export", help="copy chosen essays, drafts, prompts and evaluations into a folder")
    experiment_args(export)
    export.add_argument("--essays", required=True, help="a selection file (one gen_id a line) or a candidate list")
    export.add_argument("--out", required=True, help="folder to write (one subfolder per essay)")
    export.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (InputError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
