"""The ``prep`` stage: seeded splits written as ``splits.npz`` plus their description ``info.json``."""

from __future__ import annotations

from spotlab.infra.runs import StageResult
from spotlab.infra.stages import StageContext
from spotlab.tasks.data.datasets import DatasetInfo, Splits, prepare, splits_from_arrays

STAGE = "prep"


def run(ctx: StageContext) -> StageResult:
    splits, info = prepare(ctx.config, ctx.seed)
    ctx.write_npz("splits.npz", **splits.arrays())
    ctx.write_json("info.json", info.to_json())
    return ctx.result({"task": info.task, "input_shape": list(info.input_shape), **info.sizes})


def load_prepared(ctx: StageContext) -> tuple[Splits, DatasetInfo]:
    """For downstream stages: the splits and description given to them as inputs ``splits`` and ``info``."""
    return splits_from_arrays(ctx.read_npz("splits")), DatasetInfo.from_json(ctx.read_json("info"))
