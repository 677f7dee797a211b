"""The compressor registry, keyed by ``kind``. Every config has ``build(worker=0) -> Compressor``; ``worker`` (this
process's rank) only matters to compressors with private per-worker randomness (eden, qsgd)."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from spotlab.tasks.compress.basic import FP16Config, NoCompressionConfig
from spotlab.tasks.compress.eden import EdenConfig
from spotlab.tasks.compress.powersgd import PowerSGDConfig
from spotlab.tasks.compress.qsgd import QSGDConfig
from spotlab.tasks.compress.sparse import RandomBlockConfig, RandomKConfig, TopKConfig

COMPRESSORS = {
    cfg.model_fields["kind"].default: cfg
    for cfg in (
        NoCompressionConfig, FP16Config, PowerSGDConfig, RandomBlockConfig, RandomKConfig, TopKConfig, QSGDConfig,
        EdenConfig,
    )
}

CompressorConfig = Annotated[Union[tuple(COMPRESSORS.values())], Field(discriminator="kind")]
