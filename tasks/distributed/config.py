"""``train.distributed``: how many workers, which backend and launcher, which compressor and which distributed
optimizer (error feedback) runs around it.

With ``feedback: none`` the compressor acts on gradients (a DDP comm hook, or Horovod's compression); with ``ef`` or
``def`` it acts on each worker's momentum-SGD update inside an optimizer wrapper, which keeps the compression error.
"""

from __future__ import annotations

from typing import Annotated, Iterable, Literal, Union

from pydantic import ConfigDict, Field, model_validator

from spotlab.models.config import QUANTITY, ConfigModel
from spotlab.tasks.compress.basic import NoCompressionConfig
from spotlab.tasks.compress.config import CompressorConfig
from spotlab.tasks.distributed.feedback import CompressedMean, DetachedErrorFeedback, ErrorFeedback


class NoFeedbackConfig(ConfigModel):
    """Plain data parallelism: gradients are compressed and averaged, the compression error is dropped."""

    kind: Literal["none"] = "none"


class EFConfig(ConfigModel):
    """Error feedback: each worker adds its last compression error to its next update before compressing it."""

    kind: Literal["ef"] = "ef"

    def build(self, params: Iterable, optimizer, exchange: CompressedMean) -> ErrorFeedback:
        return ErrorFeedback(params, exchange=exchange, **_momentum_sgd(optimizer, self.kind))


class DEFConfig(ConfigModel):
    """Detached error feedback (Xu & Huang, ICML 2022): gradients at x − c·e_k, evaluation at x − mean_k e_k."""

    kind: Literal["def"] = "def"
    c: float = Field(0.3, ge=0, le=1, description="Detach coefficient: gradients are taken at x − c·e_k (0 = EF).")

    def build(self, params: Iterable, optimizer, exchange: CompressedMean) -> DetachedErrorFeedback:
        return DetachedErrorFeedback(params, exchange=exchange, c=self.c, **_momentum_sgd(optimizer, self.kind))


class DEFAConfig(ConfigModel):
    """DEF-A is named by the paper, but its exact update rule could not be retrieved, so it is not implemented:
    selecting it is a config error rather than a guess shipped under the paper's name."""

    # The schema refuses it as the validator does, so clients reading the schema never offer it.
    model_config = ConfigDict(json_schema_extra={"not": {}})

    kind: Literal["def-a"] = "def-a"

    @model_validator(mode="after")
    def _not_available(self):
        raise ValueError(
            "def-a is not implemented: the exact DEF-A rule of arXiv 2004.05298 could not be retrieved (the official "
            "code has no DEF-A switch, only DEF's coefficient); use kind 'def' with its c, or 'ef'"
        )


FEEDBACKS = {cfg.model_fields["kind"].default: cfg for cfg in (NoFeedbackConfig, EFConfig, DEFConfig, DEFAConfig)}

FeedbackConfig = Annotated[Union[tuple(FEEDBACKS.values())], Field(discriminator="kind")]


def _momentum_sgd(optimizer, feedback: str) -> dict:
    """The local step EF and DEF wrap is heavy-ball SGD; its settings come from ``train.optimizer`` (which
    :func:`check_optimizer` has validated)."""
    return {"lr": optimizer.lr, "momentum": optimizer.momentum, "weight_decay": optimizer.weight_decay}


def check_optimizer(distributed: DistributedConfig, optimizer) -> None:
    """Reject, at validation time rather than inside the workers, the optimizers a distributed setting cannot run."""
    feedback = distributed.feedback.kind
    if feedback in ("ef", "def") and (optimizer.kind != "sgd" or optimizer.nesterov):
        raise ValueError(
            f"train.distributed.feedback.kind={feedback!r} wraps momentum SGD: set train.optimizer.kind='sgd' "
            f"(nesterov false), got {optimizer.kind!r}" + (" with nesterov" if optimizer.kind == "sgd" else "")
        )


class DistributedConfig(ConfigModel):
    workers: int = Field(
        1, ge=1, le=1024, description="Data-parallel processes; each trains on its shard of every global batch. "
        "1 is the single-process path."
    )
    backend: Literal["torch", "horovod"] = Field(
        "torch", description="torch: DDP (gloo on CPU, NCCL on GPU). horovod: horovod.torch DistributedOptimizer "
        "launched with horovodrun --gloo (launcher local; build it with `make horovod`) or mpirun (launcher kubeflow)."
    )
    launcher: Literal["local", "kubernetes", "kubeflow"] = Field(
        "local", description="local: torchrun / horovodrun on this machine. kubeflow: a Kubeflow Trainer TrainJob "
        "(torch runtime for backend torch, an MPI runtime for horovod; gang scheduling where the runtime or Kueue "
        "provides it). kubernetes: an Indexed Job of torchrun pods, the fallback for clusters without Kubeflow (no "
        "gang scheduling; backend torch only).",
        json_schema_extra={"identity": False},
    )
    gpus_per_node: int = Field(
        0, ge=0, le=16, description="GPUs each pod requests (kubernetes and kubeflow launchers). Each GPU runs one "
        "worker, so the job has workers / gpus_per_node pods; 0: CPU pods of one worker each.",
        json_schema_extra={"identity": False},
    )
    cpu_per_node: str | None = Field(
        None, pattern=QUANTITY, description="CPU request and limit of each pod (kubernetes and kubeflow launchers), "
        "e.g. '8' or '500m'.", json_schema_extra={"identity": False},
    )
    memory_per_node: str | None = Field(
        None, pattern=QUANTITY, description="Memory request and limit of each pod (kubernetes and kubeflow "
        "launchers), e.g. '32Gi'.", json_schema_extra={"identity": False},
    )
    kubeflow_runtime: str | None = Field(
        None, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="ClusterTrainingRuntime the TrainJob runs on (launcher kubeflow); default 'torch-distributed' "
        "(Kubeflow Trainer's own) for backend torch, 'spotlab-horovod' (`python -m spotlab.infra.kube.kubeflow "
        "mpi-runtime`) for horovod.", json_schema_extra={"identity": False},
    )
    compressor: CompressorConfig = Field(
        default_factory=NoCompressionConfig, description="Gradient/update compressor (by kind)."
    )
    feedback: FeedbackConfig = Field(
        default_factory=NoFeedbackConfig, description="Distributed optimizer around the compressor: none, ef, def."
    )

    @property
    def launched(self) -> bool:
        """Whether training runs in separate worker processes rather than inside the stage."""
        return self.workers > 1 or self.launcher != "local"

    @property
    def procs_per_node(self) -> int:
        """Workers per pod on a cluster launcher: one per GPU (the pods' --nproc-per-node), one on a CPU pod."""
        return self.gpus_per_node or 1

    @property
    def nodes(self) -> int:
        """Pods of a cluster launch."""
        return self.workers // self.procs_per_node

    # The same rule in the JSON schema, so that the API's schema never offers what the validator refuses.
    model_config = ConfigDict(json_schema_extra={
        "if": {"required": ["backend"], "properties": {"backend": {"const": "horovod"}}},
        "then": {"properties": {"launcher": {"not": {"const": "kubernetes"}}}},
    })

    @model_validator(mode="after")
    def _supported(self):
        if self.backend == "horovod" and self.launcher == "kubernetes":
            raise ValueError(
                "train.distributed.launcher='kubernetes' runs torchrun only; backend 'horovod' runs on a cluster with "
                "launcher 'kubeflow' (an MPI TrainJob) or on this machine with launcher 'local'"
            )
        if self.launcher != "local" and self.workers % self.procs_per_node:
            raise ValueError(
                f"train.distributed.workers={self.workers} is not a multiple of train.distributed.gpus_per_node="
                f"{self.gpus_per_node}: every pod runs one worker per GPU; choose workers = pods × gpus_per_node"
            )
        return self

