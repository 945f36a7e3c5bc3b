"""Which endpoint serves a model: the built-in offline provider or an OpenAI-compatible URL."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InputError
from .experiment import Experiment, Model

OFFLINE = "offline"


@dataclass(frozen=True)
class Endpoint:
    name: str  # provider name used in metadata and as the Snakemake resource
    base_url: str | None  # None for offline
    api_key_env: str | None


def resolve_endpoint(model: Model, config: dict) -> Endpoint:
    providers = config.get("providers") or {}
    name = model.provider
    if name == OFFLINE:
        return Endpoint(OFFLINE, None, None)
    if name not in providers:
        fallback = config.get("default_provider")
        if not fallback or fallback not in providers:
            raise InputError(
                f"model {model.model_id!r}: provider {name!r} is not configured (config key 'providers') "
                "and no default_provider is set",
                field="provider",
            )
        name = fallback
    spec = providers[name]
    return Endpoint(name, spec["base_url"].rstrip("/"), spec.get("api_key_env"))


def provider_names(config: dict) -> list[str]:
    return sorted({OFFLINE, *(config.get("providers") or {})})


def check_endpoints(experiment: Experiment, config: dict) -> dict[str, Endpoint]:
    """Resolve every active model, naming llm_models.csv in the error."""
    endpoints = {}
    for model in experiment.models:
        if not (model.for_generation or model.for_evaluation):
            continue
        try:
            endpoints[model.model_id] = resolve_endpoint(model, config)
        except InputError as exc:
            raise InputError(exc.message, file=experiment.sources["models"], field="provider") from None
    return endpoints
