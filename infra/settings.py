"""Process-wide settings: environment defaults that must be in place before Prefect is imported."""

from __future__ import annotations

import base64
import os

import httpx

# Prefect phones home (analytics, update checks) unless told not to; there is no network here and a run
# must never wait on it. setdefault keeps whatever an operator exported explicitly.
_PREFECT_QUIET = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
    "PREFECT_LOGGING_SERVER_LEVEL": "WARNING",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    "PREFECT_UI_ENABLED": "false",
    # Without a Prefect server a run starts a temporary one; on a busy machine that takes longer than the 20 s
    # Prefect allows by default, and a one-shot command must not fail for it.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}

DEFAULT_ARTIFACT_ROOT = "./spotlab-artifacts"
ARTIFACT_ROOT_ENV = "SPOTLAB_ARTIFACTS"


def quiet_prefect() -> None:
    for key, value in _PREFECT_QUIET.items():
        os.environ.setdefault(key, value)


def default_artifact_url() -> str:
    """Where artifacts go when a config names no storage URL: $SPOTLAB_ARTIFACTS or ./spotlab-artifacts."""
    return os.environ.get(ARTIFACT_ROOT_ENV, DEFAULT_ARTIFACT_ROOT)


STAGE_EXECUTION_ENV = "SPOTLAB_STAGE_EXECUTION"


def default_stage_execution() -> str:
    """How a pipeline runs its stages when a config does not say: $SPOTLAB_STAGE_EXECUTION (the Helm chart sets
    ``deployments`` in its pods) or ``inline``."""
    return os.environ.get(STAGE_EXECUTION_ENV, "inline")


def prefect_api_problem(timeout_s: float = 10.0) -> str | None:
    """Why the configured $PREFECT_API_URL cannot be used, or None (also None when none is configured: then
    runs start a temporary local server)."""
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        return None
    # A server with basic auth (PREFECT_SERVER_API_AUTH_STRING) wants the client's PREFECT_API_AUTH_STRING.
    auth = os.environ.get("PREFECT_API_AUTH_STRING")
    headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
    try:
        response = httpx.get(url.rstrip("/") + "/health", timeout=timeout_s, headers=headers)
    except httpx.HTTPError as exc:
        return f"the Prefect API at PREFECT_API_URL={url} is unreachable ({type(exc).__name__}: {exc})"
    if response.status_code != 200:
        return f"the Prefect API at PREFECT_API_URL={url} answered /health with HTTP {response.status_code}"
    return None


HEARTBEAT_ENV = "SPOTLAB_HEARTBEAT_S"
HEARTBEAT_TIMEOUT_ENV = "SPOTLAB_HEARTBEAT_TIMEOUT_S"


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ValueError(f"${name}={raw!r} must be a positive number of seconds")
    return value


def heartbeat_interval_s() -> float:
    """How often a running run renews its lease ($SPOTLAB_HEARTBEAT_S, default 15)."""
    return _seconds(HEARTBEAT_ENV, 15.0)


def heartbeat_timeout_s() -> float:
    """A running run whose lease is older than this is reported crashed ($SPOTLAB_HEARTBEAT_TIMEOUT_S, default
    120: several missed renewals, so a slow store does not make a live run look dead)."""
    return _seconds(HEARTBEAT_TIMEOUT_ENV, 120.0)
