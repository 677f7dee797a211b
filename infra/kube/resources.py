"""What one stage asks of the cluster, and the Prefect job variables that ask for it."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from spotlab.models.config import QUANTITY, ConfigModel


class StageResources(ConfigModel):
    """Resources of the Kubernetes job that runs one stage (ignored when stages run in-process)."""

    gpus: int = Field(0, ge=0, le=16, description="NVIDIA GPUs (nvidia.com/gpu limit); > 0 makes it a GPU job.")
    cpu: str | None = Field(None, pattern=QUANTITY, description="CPU request and limit, e.g. '2' or '500m'.")
    memory: str | None = Field(None, pattern=QUANTITY, description="Memory request and limit, e.g. '8Gi'.")


def job_variables(resources: StageResources) -> dict[str, Any]:
    """Job variables of the spotlab work-pool template (see spotlab.infra.kube.work_pool) for ``resources``."""
    variables: dict[str, Any] = {"gpu_limit": resources.gpus}
    if resources.cpu is not None:
        variables |= {"cpu_request": resources.cpu, "cpu_limit": resources.cpu}
    if resources.memory is not None:
        variables |= {"memory_request": resources.memory, "memory_limit": resources.memory}
    return variables


def combined(resources: list[StageResources]) -> StageResources:
    """One job running several stages (a whole pipeline) needs the most any of them asks for."""
    from kubernetes.utils import parse_quantity

    def largest(values: list[str | None]) -> str | None:
        given = [v for v in values if v is not None]
        return max(given, key=parse_quantity) if given else None

    return StageResources(
        gpus=max((r.gpus for r in resources), default=0),
        cpu=largest([r.cpu for r in resources]),
        memory=largest([r.memory for r in resources]),
    )
