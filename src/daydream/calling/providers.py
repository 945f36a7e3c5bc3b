"""Which endpoint serves a model: the built-in offline provider or an OpenAI-compatible URL, with
that provider's request settings (timeout, attempts, backoff) and concurrency cap."""

from __future__ import annotations

from dataclasses import dataclass

from daydream.calling.llm import RetryPolicy
from daydream.errors import InputError
from daydream.experiment.definition import Experiment, Model

OFFLINE = "offline"
POLICY_KEYS = ("timeout_s", "max_attempts", "backoff_base_s", "backoff_max_s")


@dataclass(frozen=True)
class BatchSettings:
    """A provider's batch mode (OpenAI-compatible /files + /batches): which stages' calls go in
    batches, and how (the schema's providers.<name>.batch holds the meaning and defaults)."""

    stages: tuple[str, ...]
    discount: float
    max_requests: int
    max_bytes: int
    completion_window: str
    gather_s: float
    poll_s: float
    wait: bool
    max_submissions: int


@dataclass(frozen=True)
class Endpoint:
    name: str  # provider name used in metadata and as the Snakemake resource
    base_url: str | None  # None for offline
    api_key_env: str | None
    policy: RetryPolicy
    max_concurrency: int  # calls in flight when no `--resources NAME=N` is given
    requests_per_minute: int | None = None  # rate_limit.py
    usage_accounting: bool = False  # ask for the charge in each response (OpenRouter: usage.include)
    batch: BatchSettings | None = None  # calls of some stages made in batches (calling/batching.py)

    def batches(self, stage: str) -> bool:
        """Whether this stage's calls to this provider go in batches."""
        return self.batch is not None and stage in self.batch.stages


def provider_settings(config: dict, name: str) -> dict:
    """A provider's settings: its own keys over the global `llm` ones (the schema's defaults)."""
    llm = config["llm"]
    own = (config.get("providers") or {}).get(name) or {}
    merged = {key: own.get(key, llm[key]) for key in (*POLICY_KEYS, "max_concurrency", "requests_per_minute")}
    merged.update(base_url=own.get("base_url"), api_key_env=own.get("api_key_env"))
    merged["usage_accounting"] = asks_for_cost(own.get("usage_accounting"), merged["base_url"])
    merged["batch"] = own.get("batch")
    return merged


def asks_for_cost(setting: bool | None, base_url: str | None) -> bool:
    """Whether requests ask the provider to report its charge: as set, else (null) for OpenRouter,
    the provider that needs asking (its usage: {include: true})."""
    if setting is not None:
        return bool(setting)
    from urllib.parse import urlsplit

    host = (urlsplit(base_url).hostname or "") if base_url else ""
    return host == "openrouter.ai" or host.endswith(".openrouter.ai")


def endpoint(config: dict, name: str) -> Endpoint:
    settings = provider_settings(config, name)
    base_url = settings["base_url"].rstrip("/") if settings["base_url"] else None
    policy = RetryPolicy(**{key: settings[key] for key in POLICY_KEYS})
    return Endpoint(
        name,
        base_url,
        settings["api_key_env"],
        policy,
        settings["max_concurrency"],
        settings["requests_per_minute"],
        settings["usage_accounting"],
        batch_settings(name, settings["batch"]) if base_url else None,
    )


def batch_settings(provider: str, batch: dict | None) -> BatchSettings | None:
    from daydream.stages import STAGES

    if not batch or not batch.get("stages"):
        return None
    unknown = [stage for stage in batch["stages"] if stage not in STAGES]
    if unknown:
        raise InputError(
            f"unknown stage {unknown[0]!r} in providers.{provider}.batch.stages; stages: {', '.join(STAGES)}",
            field=f"providers.{provider}.batch.stages",
        )
    return BatchSettings(
        stages=tuple(batch["stages"]),
        **{name: batch[name] for name in BatchSettings.__dataclass_fields__ if name != "stages"},
    )


def resolve_endpoint(model: Model, config: dict) -> Endpoint:
    providers = config.get("providers") or {}
    name = model.provider
    if name == OFFLINE:
        return endpoint(config, OFFLINE)
    if name not in providers:
        fallback = config.get("default_provider")
        known = ", ".join(provider_names(config))
        if not fallback:
            raise InputError(
                f"model {model.model_id!r}: provider {name!r} is not configured (known: {known}); fix the "
                "name, add it under 'providers' in the config, or set default_provider to the provider that "
                "serves such models (the original project's tables name vendors: default_provider: openrouter)",
                field="provider",
            )
        if fallback not in providers:
            raise InputError(
                f"model {model.model_id!r}: provider {name!r} is not configured and default_provider "
                f"{fallback!r} is not either (known: {known})",
                field="provider",
            )
        name = fallback
    return endpoint(config, name)


def provider_names(config: dict) -> list[str]:
    return sorted({OFFLINE, *(config.get("providers") or {})})


def check_endpoints(experiment: Experiment, config: dict) -> dict[str, Endpoint]:
    """Resolve every active model (by model id), naming llm_models.csv in the error."""
    endpoints = {}
    for model in experiment.models:
        if not (model.for_generation or model.for_evaluation):
            continue
        try:
            endpoints[model.model_id] = resolve_endpoint(model, config)
        except InputError as exc:
            raise InputError(exc.message, file=experiment.sources["models"], field="provider") from None
    return endpoints
