"""Process-wide settings: environment defaults that must be in place before Prefect is imported."""

from __future__ import annotations

import os

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
}

DEFAULT_ARTIFACT_ROOT = "./spotlab-artifacts"
ARTIFACT_ROOT_ENV = "SPOTLAB_ARTIFACTS"


def quiet_prefect() -> None:
    for key, value in _PREFECT_QUIET.items():
        os.environ.setdefault(key, value)


def default_artifact_url() -> str:
    """Where artifacts go when a config names no storage URL: $SPOTLAB_ARTIFACTS or ./spotlab-artifacts."""
    return os.environ.get(ARTIFACT_ROOT_ENV, DEFAULT_ARTIFACT_ROOT)
