"""The study registry: every paper's claim check, keyed by ``kind``. Each config has ``needs_data`` (whether it
takes the pipeline's prepared data) and ``run(data, seed) -> StudyReport``."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from spotlab.tasks.attack.studies import CGDComparisonConfig, PRLComparisonConfig
from spotlab.tasks.compress.studies import EdenVNMSEConfig
from spotlab.tasks.distributed.studies import DEFvsEFConfig
from spotlab.tasks.federated.studies import NTKFLRoundsConfig
from spotlab.tasks.landscape.studies import DiagonalSAMConfig, SAMComparisonConfig, ToroidsConfig
from spotlab.tasks.prune.studies import PACNetTransferConfig, RamanujanTicketsConfig
from spotlab.tasks.study.seeds import SeedSweepConfig

STUDIES = {cfg.model_fields["kind"].default: cfg for cfg in (SeedSweepConfig, SAMComparisonConfig, DiagonalSAMConfig, ToroidsConfig,
                                                            RamanujanTicketsConfig, PACNetTransferConfig, CGDComparisonConfig, PRLComparisonConfig, DEFvsEFConfig, EdenVNMSEConfig,
                                                            NTKFLRoundsConfig)}

StudyConfig = Annotated[Union[tuple(STUDIES.values())], Field(discriminator="kind")]
