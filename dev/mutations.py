"""Deliberate breakages, one at a time: each mutation is applied to the source file, the tests
that guard it are run, the file is restored, and the line says whether the tests caught it.

A periodic check of the suite itself (not part of CI; about a minute):

    .venv/bin/python dev/mutations.py          # all
    .venv/bin/python dev/mutations.py 3 7      # some, by number

Run it on a clean working tree (it rewrites source files while it runs, and restores them). A
MISSED line is a guarantee no test defends: add the test, then the mutation stays here."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTATIONS = [
    (
        "src/daydream/calling/llm.py",
        "ceiling = min(self.backoff_max_s, self.backoff_base_s * (2 ** (attempt - 1)))",
        "ceiling = min(self.backoff_max_s, self.backoff_base_s)",
        "tests/test_llm_client.py",
    ),
    (
        "src/daydream/calling/llm.py",
        "return max(0.0, min(float(value), MAX_RETRY_AFTER_S))",
        "return max(0.0, float(value))",
        "tests/test_llm_client.py",
    ),
    (
        "src/daydream/calling/llm.py",
        "return status in RETRY_STATUSES or status >= 500",
        "return status in RETRY_STATUSES or status > 500",
        "tests/test_llm_client.py",
    ),
    (
        "src/daydream/generating/steps.py",
        "if lines < min_lines:",
        "if lines <= min_lines:",
        "tests/test_generation.py tests/test_workflow.py -k 'short or generation'",
    ),
    (
        "src/daydream/calling/credentials.py",
        'return host in {"localhost", "::1"} or host.startswith("127.")',
        "return True",
        "tests/test_workflow.py -k 'api_key or missing'",
    ),
    (
        "src/daydream/store/archive.py",
        "        reverse=True,",
        "        reverse=False,",
        "tests/test_generation.py tests/test_engine.py",
    ),
    (
        "src/daydream/text/parsers.py",
        "lines = [_strip_markdown(line) for line in _non_empty_lines(text)[-3:]]",
        "lines = [_strip_markdown(line) for line in _non_empty_lines(text)[-1:]]",
        "tests/test_parsers.py",
    ),
    (
        "src/daydream/ids.py",
        "for raw in (env_value, config_value):",
        "for raw in (config_value, env_value):",
        "tests/test_ids.py",
    ),
    (
        "src/daydream/calling/engine.py",
        "pool.shutdown(wait=False, cancel_futures=True)",
        "pool.shutdown(wait=False, cancel_futures=False)",
        "tests/test_engine.py",
    ),
    (
        "src/daydream/analysis/summaries.py",
        'ok["perfect"] = ok["score"] >= PERFECT',
        'ok["perfect"] = ok["score"] > PERFECT',
        "tests/test_results.py",
    ),
    (
        "src/daydream/analysis/summaries.py",
        'table["spread"] = table["max"] - table["min"]',
        'table["spread"] = table["max"] - table["mean"]',
        "tests/test_results.py",
    ),
    (
        "src/daydream/analysis/summaries.py",
        'table["range"] = table["high"] - table["low"]',
        'table["range"] = table["high"]',
        "tests/test_results.py",
    ),
    (
        "src/daydream/analysis/selection.py",
        'table = table.sort_values(["score", "essay_gen_id"], ascending=[False, True])',
        'table = table.sort_values(["score", "essay_gen_id"], ascending=[True, True])',
        "tests/test_results.py",
    ),
    (
        "src/daydream/stages.py",
        '            model_role="evaluation",',
        '            model_role="generation",',
        "tests/test_cohort.py",
    ),
    (
        "src/daydream/ids.py",
        '"llms": {role: sorted(set(names)) for role, names in llms.items()},',
        '"llms": {role: sorted(set(names)) for role, names in list(llms.items())[:1]},',
        "tests/test_ids.py tests/test_cohort.py",
    ),
    (
        "src/daydream/generating/steps.py",
        'usage["prompt_tokens"] * prices["input"] / 1e6 + usage["completion_tokens"] * prices["output"] / 1e6',
        'usage["prompt_tokens"] * prices["output"] / 1e6 + usage["completion_tokens"] * prices["input"] / 1e6',
        "tests/test_generation.py",
    ),
    (
        "src/daydream/fileio.py",
        "    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666, dir_fd=parent)",
        "    tmp = name  # rewritten in place\n"
        "    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666, dir_fd=parent)",
        "tests/test_generation.py",
    ),
    (
        "src/daydream/calling/llm.py",
        '    if finish_reason == "length" and not text:',
        "    if False:",
        "tests/test_llm_client.py",
    ),
    (
        "src/daydream/store/membership.py",
        "        if key in seen:\n            continue",
        "        if False:\n            continue",
        "tests/test_cohort.py",
    ),
    (
        "src/daydream/generating/steps.py",
        '    if fail_on_truncation and metadata.get("truncated"):',
        "    if False:",
        "tests/test_generation.py",
    ),
    (
        "src/daydream/text/parsers.py",
        "        return DRAFT_PARSERS[parser](text)",
        "        return text",
        "tests/test_generation.py tests/test_parsers.py",
    ),
    (
        "src/daydream/generating/steps.py",
        "        write_atomic(gen.raw_path, text)\n",
        "        validate_response(text, metadata, gen.min_lines, gen.fail_on_truncation)\n"
        "        write_atomic(gen.raw_path, text)\n",  # validated before the response is kept
        "tests/test_generation.py",
    ),
    (
        "src/daydream/calling/offline.py",
        '    return " ".join(_WORDS[seed[(offset + i) % len(seed)] % len(_WORDS)] for i in range(n))',
        '    import os\n    return " ".join(_WORDS[os.urandom(1)[0] % len(_WORDS)] for i in range(n))',
        "tests/test_generation.py tests/test_cohort.py tests/test_results.py",
    ),
    ("src/daydream/calling/rate_limit.py", "if len(recent) < per_minute:", "if True:", "tests/test_rate_limit.py"),
    (
        "src/daydream/planning/cost_plan.py",
        "    if plan.cost > max_cost_usd:",
        "    if False:",
        "tests/test_cost_plan.py",
    ),
    (
        "src/daydream/store/housekeeping.py",
        "        keep = () if include_responses else (RESPONSES,)",
        "        keep = ()",
        "tests/test_store.py",
    ),
    (
        "src/daydream/analysis/essays_page.py",
        "from html import escape",
        "escape = str",
        "tests/test_workflow.py -k markup",
    ),
    (
        "src/daydream/store/index.py",
        "AND origin IS NULL ORDER BY stamp, path",
        "AND origin IS NULL AND 0",
        "tests/test_index.py tests/test_reuse.py -k 'grown or index or copied'",
    ),
    (
        "src/daydream/store/index.py",
        "AND origin IS NULL ORDER BY stamp, path",
        "AND origin IS NULL ORDER BY stamp DESC",
        "tests/test_index.py",
    ),
    (
        "src/daydream/store/index.py",
        "WHERE request_key = ? AND slot = ?",
        "WHERE request_key = ? AND slot >= ?",
        "tests/test_index.py tests/test_reuse.py -k fill",
    ),
    (
        "src/daydream/store/archive.py",
        "    if text is None or text == new_text or text in archived_texts(gen_dir):",
        "    if True:",
        "tests/test_generation.py",
    ),
    (
        "src/daydream/planning/setup.py",
        '            if folder in holding or not exists(self.store.path / "gens" / folder / RAW):',
        "            if True:",
        "tests/test_workflow.py -k answers_its_own_prompt",
    ),
    (
        "src/daydream/calling/engine.py",
        '    if found is None and call.reuse == "store" and call.redo_after is None:',
        "    if found is None and call.redo_after is None:",
        "tests/test_reuse.py -k fresh",
    ),
    (
        "src/daydream/analysis/status.py",
        '    return isinstance(source, dict) and source.get("gen_id") not in (None, "", gen_id)',
        "    return False",
        "tests/test_reuse.py -k grown",
    ),
    (
        "src/daydream/planning/specs.py",
        '        return f"{request}; {parse}" + (f"; new response after {redo}" if redo else "")',
        '        return f"{request}; {parse}"',
        "tests/test_reuse.py -k purpose",
    ),
    (
        "src/daydream/fileio.py",
        "        return os.open(parts[-1], flags | os.O_NOFOLLOW, mode, dir_fd=parent)",
        "        return os.open(parts[-1], flags, mode, dir_fd=parent)",
        "tests/test_hardening.py -k never_read",
    ),
    (
        "src/daydream/fileio.py",
        "        return os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)\n"
        "    except FileNotFoundError:",
        "        return os.open(part, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)\n" "    except FileNotFoundError:",
        "tests/test_hardening.py -k written_through",
    ),
    (
        "src/daydream/fileio.py",
        "        if _is_link(parent, name):\n            os.unlink(name, dir_fd=parent)",
        "        if False:\n            os.unlink(name, dir_fd=parent)",
        "tests/test_hardening.py -k purge_removes",
    ),
    (
        "src/daydream/store/housekeeping.py",
        "        lock = acquire_run_lock(store, cohort_id, os.getcwd())",
        "        lock = type('NoLock', (), {'release': lambda self: None})()",
        "tests/test_hardening.py -k purge_refuses",
    ),
    (
        "src/daydream/calling/rate_limit.py",
        "        elif info.st_mode & 0o077:",
        "        elif False:",
        "tests/test_rate_limit.py -k planted",
    ),
    (
        "src/daydream/calling/rate_limit.py",
        "        and now - window_s < t <= now + FUTURE_SLACK_S",
        "        and now - window_s < t",
        "tests/test_rate_limit.py -k future",
    ),
    (
        "src/daydream/workflow/policy.py",
        "        def handler(signum, frame, previous=previous):\n            stop()",
        "        def handler(signum, frame, previous=previous):\n            pass",
        "tests/test_hardening.py -k interrupt",
    ),
    (
        "src/daydream/config.py",
        "        if parsed.username is not None or parsed.password is not None:",
        "        if False:",
        "tests/test_hardening.py -k credentials",
    ),
    (
        "src/daydream/config.py",
        "        if not math.isfinite(number):",
        "        if False:",
        "tests/test_hardening.py -k finite",
    ),
    (
        "src/daydream/tables.py",
        "    if not math.isfinite(number) or number < 0:",
        "    if number < 0:",
        "tests/test_hardening.py -k prices",
    ),
    (
        "src/daydream/planning/stored.py",
        "        if limit is not None and len(ids_seen) > limit:",
        "        if False:",
        "tests/test_hardening.py -k selection_over",
    ),
    (
        "src/daydream/store/metadata.py",
        "        if not isinstance(found, str) or len(found) > MAX_TEXT:",
        "        if False:",
        "tests/test_hardening.py -k wrong_type",
    ),
    (
        "src/daydream/cli.py",
        "    if not ids.is_safe_id(value):",
        "    if False:",
        "tests/test_hardening.py -k cohort_is_named",
    ),
    (
        "src/daydream/analysis/summaries.py",
        'table["agreement"] = table["spread"].where(table["n_evaluators"] >= 2).map(classify_agreement)',
        'table["agreement"] = table["mean"].map(classify_agreement)',
        "tests/test_results.py",
    ),
    (
        "src/daydream/analysis/summaries.py",
        'ok["high"] = ok["score"] >= HIGH',
        'ok["high"] = ok["score"] > HIGH',
        "tests/test_statistics.py -k boundaries",
    ),
    (
        "src/daydream/analysis/summaries.py",
        "    if score_range <= 2.0:",
        "    if score_range < 2.0:",
        "tests/test_statistics.py -k boundaries",
    ),
    (
        "src/daydream/analysis/uncertainty.py",
        'per_essay = ok.groupby([*group_keys, "parent_gen_id"], dropna=False)',
        'per_essay = ok.groupby([*group_keys, "gen_id"], dropna=False)',
        "tests/test_statistics.py -k intervals",
    ),
    (
        "src/daydream/analysis/uncertainty.py",
        "low, high = np.quantile(means, [tail, 1 - tail])",
        "low, high = np.quantile(means, [2 * tail, 1 - 2 * tail])",
        "tests/test_statistics.py -k intervals",
    ),
    (
        "src/daydream/analysis/uncertainty.py",
        "            if len(paired) >= 2:",
        "            if False:",
        "tests/test_statistics.py -k comparison",
    ),
    (
        "src/daydream/analysis/uncertainty.py",
        'method="holm"',
        'method="none"',
        "tests/test_statistics.py -k 'holm or null'",
    ),
    (
        "src/daydream/analysis/reliability.py",
        '    wide = long.pivot_table(index="rater", columns="unit", values="score")',
        '    wide = long.pivot_table(index="unit", columns="rater", values="score")',
        "tests/test_statistics.py -k alpha",
    ),
    (
        "src/daydream/analysis/reliability.py",
        'row = table.loc["ICC(A,1)"] if "ICC(A,1)" in table.index else table.loc["ICC2"]',
        'row = table.loc["ICC3"]',
        "tests/test_statistics.py -k icc",
    ),
    (
        "src/daydream/analysis/reliability.py",
        "if not np.isnan(alpha_value) and alpha_value < alpha_min:",
        "if not np.isnan(alpha_value) and alpha_value <= alpha_min:",
        "tests/test_statistics.py -k flag",
    ),
    (
        "src/daydream/analysis/reliability.py",
        '    if judged["rater"].nunique() >= 3:  # with two, this is the pair above twice',
        "    if False:",
        "tests/test_statistics.py -k random",
    ),
    (
        "src/daydream/analysis/stability.py",
        "weights = rng.multinomial(n_judges, np.full(n_judges, 1.0 / n_judges), size=b)[:, None, :]  # b x 1 x J",
        "weights = np.ones((b, 1, n_judges), dtype=int)",
        "tests/test_statistics.py -k stability",
    ),
    (
        "src/daydream/analysis/stability.py",
        "            picks = rng.integers(0, r, size=(b, len(members), r))",
        "            picks = np.broadcast_to(np.arange(r), (b, len(members), r))",
        "tests/test_statistics.py -k stability",
    ),
    (
        "src/daydream/analysis/stability.py",
        "    return np.sqrt(np.where(n > 1, n / np.maximum(n - 1, 1), 1.0))",
        "    return np.ones_like(n)",
        "tests/test_statistics.py -k 'rescaled or few_judges or tie'",
    ),
    (
        "src/daydream/analysis/stability.py",
        "    ok = len(stable) * 2 >= len(chosen)",
        "    ok = len(stable) * 2 > len(chosen)",
        "tests/test_statistics.py -k boundaries",
    ),
    (
        "src/daydream/cli.py",
        "        if not stable:",
        "        if False:",
        "tests/test_statistics.py -k select_top",
    ),
    (
        "src/daydream/analysis/reliability.py",
        "    observed = ((m * s2 - s1**2) / (m - 1)).sum()",
        "    observed = ((m * s2 - s1**2) / m).sum()",
        "tests/test_statistics.py -k alpha",
    ),
    (
        "src/daydream/review/templates/essay.html",
        '<div class="text" id="essay-text">{{ page.text }}</div>',
        '<div class="text" id="essay-text">{{ page.text|safe }}</div>',
        "tests/test_review.py tests/test_review_browser.py",
    ),
    (
        "src/daydream/review/app.py",
        """f"default-src 'none'; script-src 'nonce-{g.get('nonce', '')}'; style-src 'unsafe-inline'; \"""",
        """f"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \"""",
        "tests/test_review.py -k everything_as_text",
    ),
    (
        "src/daydream/review/app.py",
        "            if not is_loopback(host):  # a foreign name resolving to us: DNS rebinding",
        "            if False:",
        "tests/test_review.py -k refused",
    ),
    (
        "src/daydream/review/app.py",
        'if not hmac.compare_digest(request.form.get("form_token", "").encode(), form_token.encode()):',
        "if False:",
        "tests/test_review.py -k refused",
    ),
    (
        "src/daydream/review/app.py",
        "if not hmac.compare_digest(supplied.encode(), settings.token.encode()):",
        "if False:",
        "tests/test_review.py -k token",
    ),
    (
        "src/daydream/cli.py",
        "        if not args.allow_remote:",
        "        if False:",
        "tests/test_review.py -k token",
    ),
    (
        "src/daydream/store/labels.py",
        "    with StoreLock(store.human_labels_lock(cohort_id)):",
        "    if True:",
        "tests/test_review.py -k 'lose'",
    ),
    (
        "src/daydream/store/labels.py",
        "    return {(label.essay_gen_id, label.reviewer): label for label in labels}",
        "    return {(label.essay_gen_id, label.reviewer): label for label in reversed(labels)}",
        "tests/test_review.py -k 'wins or saved'",
    ),
    (
        "src/daydream/store/labels.py",
        "        if self.rejected_by:",
        "        if self.rejected_by and not self.accepted_by:",
        "tests/test_review.py -k 'wins or select_top'",
    ),
    (
        "src/daydream/analysis/human.py",
        'return float("nan") if expected == 1 else (observed - expected) / (1 - expected)',
        'return float("nan") if expected == 1 else observed',
        "tests/test_review.py -k 'kappa or judge_vs_human'",
    ),
    (
        "src/daydream/cli.py",
        'accepted = [gen_id for gen_id, state in states.items() if state == "accepted"]',
        'accepted = [gen_id for gen_id, state in states.items() if state != "rejected"]',
        "tests/test_review.py -k select_top",
    ),
    (
        "rules/results.smk",
        "        labels=human_labels_if_any,\n",
        "",
        "tests/test_review.py -k statistics_job",
    ),
    (
        "src/daydream/review/templates/essay.html",
        'var verdicts = {a: "accept", r: "reject", u: "undecided"};',
        'var verdicts = {a: "reject", r: "accept", u: "undecided"};',
        "tests/test_review_browser.py",
    ),
    (
        "src/daydream/workflow/scheduler_patch.py",
        "    if limiter is not None and delay == limiter.timespan and not _limit_bound(limiter):",
        "    if False:",
        "tests/test_scheduler_patch.py -k resource",
    ),
    (
        "src/daydream/workflow/scheduler_patch.py",
        '    return allowed is None or allowed == 0 or getattr(limiter, "_daydream_taken", 0) >= allowed',
        "    return False",
        "tests/test_scheduler_patch.py -k binding",
    ),
    (
        "src/daydream/generating/steps.py",
        '        return float(reported), "provider"',
        "        pass",
        "tests/test_providers.py -k 'charge'",
    ),
    (
        "src/daydream/calling/llm.py",
        '        extras["usage"] = {"include": True}',
        "        pass",
        "tests/test_providers.py -k 'recorded_cost'",
    ),
    (
        "src/daydream/calling/llm.py",
        "separate_reasoning(message), reported_cost(data))",
        "None, reported_cost(data))",
        "tests/test_providers.py -k 'reasoning'",
    ),
    (
        "src/daydream/text/answer.py",
        'split = split_reasoning(record["text"], record.get("reasoning"), reasoning_tag)',
        'split = split_reasoning(record["text"], record.get("reasoning"), "none")',
        "tests/test_providers.py -k 'reasoning or thought'",
    ),
    (
        "src/daydream/calling/llm.py",
        '        extras["response_format"] = response_format(request.response_format)',
        "        pass",
        "tests/test_providers.py -k 'structured_judge'",
    ),
    (
        "src/daydream/text/answer.py",
        '        return Answer(split, None, f"{exc}; read by the {parser} parser")',
        "        raise",
        "tests/test_providers.py -k 'ignores_the_schema'",
    ),
    (
        "src/daydream/calling/batch_api.py",
        'return self._json("POST", "/batches", attempts=1, json=body)',
        'return self._json("POST", "/batches", json=body)',
        "tests/test_batches.py -k 'stopped_at_each_step'",
    ),
    (
        "src/daydream/calling/batching.py",
        "                    found = self.api.find_by_input_file(ledger.input_file_id)",
        "                    found = None",
        "tests/test_batches.py -k 'stopped_at_each_step'",
    ),
    (
        "src/daydream/planning/cost_plan.py",
        " / 1e6) * line.price_factor",
        " / 1e6)",
        "tests/test_batches.py -k 'plan'",
    ),
    (
        "src/daydream/generating/steps.py",
        '    return round(cost * factor, 8), "price_table"',
        '    return round(cost, 8), "price_table"',
        "tests/test_batches.py -k 'batch_price'",
    ),
    (
        "src/daydream/calling/batching.py",
        "            if item.submission < self.settings.max_submissions:",
        "            if True:",
        "tests/test_batches.py -k 'bounded'",
    ),
    (
        "src/daydream/calling/engine.py",
        "        pending = in_open_batch(call.store, call.endpoint.name, call.key, call.slot)",
        "        pending = None",
        "tests/test_batches.py -k 'paid_twice'",
    ),
    (
        "src/daydream/workflow/policy.py",
        "        mark_stale(reports_dir, membership)",
        "        pass",
        "tests/test_workflow.py -k failed_evaluations",
    ),
    (
        "src/daydream/calling/batching.py",
        'if (mark.get("custom_id"), mark.get("batch_id")) == (item.custom_id, ledger.batch_id):',
        "if False:",
        "tests/test_batches.py -k collection",
    ),
    (
        "src/daydream/planning/cost_plan.py",
        'found[key] = Outlook("in_batch" if in_flight is not None else "call")',
        'found[key] = Outlook("call")',
        "tests/test_batches.py -k not_wait",
    ),
    (
        "src/daydream/calling/batching.py",
        'if not self._same_as_on_disk(ledger) or ledger.state not in ("prepared", "uploaded"):',
        'if ledger.state not in ("prepared", "uploaded"):',
        "tests/test_batches.py -k two_runs",
    ),
    (
        "src/daydream/calling/batching.py",
        "            if ledger.create_sent_at:\n",
        "            if False:\n",
        "tests/test_batches.py -k 'stopped_at_each_step or cannot_list'",
    ),
    (
        "src/daydream/calling/batching.py",
        "                if failures >= self.endpoint.policy.max_attempts:",
        "                if False:",
        "tests/test_batches.py -k stops_answering",
    ),
    (
        "src/daydream/planning/cost_plan.py",
        "            answer = read_answer(record, gen.reasoning_tag, gen.request.response_format, gen.parser)",
        '            answer = read_answer(record, "none", gen.request.response_format, gen.parser)',
        "tests/test_providers.py -k plan_reads",
    ),
    (
        "src/daydream/workflow/function_params.py",
        "        overwrite_function_params(function, inspect.signature(function).parameters)",
        "        pass",
        "tests/test_function_params.py",
    ),
    (
        "rules/common.smk",
        "        return 1 if gen.provider == provider and not waits_on_batch(gen) else 0",
        "        return 1 if gen.provider == provider else 0",
        "tests/test_batches.py -k batches_its_evaluations",
    ),
    (
        "src/daydream/calling/batch_api.py",
        "            excerpt = _excerpt(response.text, self.secrets)",
        "            excerpt = response.text[:200]",
        "tests/test_batches.py -k no_json",
    ),
    (
        "src/daydream/workflow/scheduler_patch.py",
        "    self._open_jobs = Wakeups(pending)\n",
        "",
        "tests/test_scheduler_patch.py -k together",
    ),
    (
        "src/daydream/workflow/scheduler_patch.py",
        "            self._pending = 0\n",
        "            self._pending -= 1\n",
        "tests/test_scheduler_patch.py -k coalesce",
    ),
    (
        "src/daydream/workflow/scheduler_patch.py",
        "    return Deferred(lambda: listing(self))",
        "    return listing(self)",
        "tests/test_scheduler_patch.py -k read_once",
    ),
    (
        "src/daydream/workflow/scheduler_patch.py",
        "        jobs = [job for job in jobs if not new.isdisjoint(job.input)]",
        "        pass",
        "tests/test_scheduler_patch.py -k not_read_before",
    ),
    (
        "src/daydream/workflow/scheduler_patch.py",
        "            self._condition.notify()",
        "            pass",
        "tests/test_scheduler_patch.py -k coalesce",
    ),
    (
        "src/daydream/workflow/scheduler_patch.py",
        "    if len(known) + len(new) <= PRUNED_ABOVE:\n",
        "    if True:\n",
        "tests/test_scheduler_patch.py -k prunes",
    ),
    (
        "src/daydream/fileio.py",
        "FOLDERS_KEPT_OPEN = 2",
        "FOLDERS_KEPT_OPEN = 0",
        "tests/test_fileio.py -k opened_once",
    ),
    (
        "src/daydream/fileio.py",
        "        gone = exc.errno == errno.ESTALE or os.fstat(fd).st_nlink == 0",
        "        gone = False",
        "tests/test_fileio.py",
    ),
    (
        "src/daydream/store/index.py",
        "        with StoreLock(self.store.index_lock):\n            return self._refresh()",
        "        return self._refresh()",
        "tests/test_index.py -k at_once",
    ),
    (
        "src/daydream/generating/steps.py",
        '    if old_raw != text or "\\ufffd" in text:',
        "    if old_raw is None:",
        "tests/test_generation.py tests/test_reuse.py tests/test_workflow.py -k 'raw or redo'",
    ),
    (
        "src/daydream/fileio.py",
        "    for last in (False, True):",
        "    for last in (True,):",
        "tests/test_fileio.py",
    ),
    (
        "src/daydream/store/index.py",
        '            connection.execute("PRAGMA journal_mode=TRUNCATE")\n',
        "",
        "tests/test_index.py -k leaves_no_file",
    ),
]


def run(selection):
    cmd = f"{sys.executable} -m pytest -q -x -n 0 -p no:cacheprovider {selection}"
    return subprocess.run(cmd, shell=True, cwd=ROOT, capture_output=True, text=True).returncode


for index, (file, old, new, selection) in enumerate(MUTATIONS):
    if len(sys.argv) > 1 and str(index) not in sys.argv[1:]:
        continue
    path = ROOT / file
    original = path.read_text()
    if original.count(old) != 1:
        print(f"{index}: STALE   {file}: the code to break is no longer there once; update the mutation", flush=True)
        continue
    try:
        path.write_text(original.replace(old, new))
        code = run(selection)
    finally:
        path.write_text(original)
    print(f"{index}: {'CAUGHT' if code else 'MISSED'}  {file}: {new[:70]}", flush=True)
