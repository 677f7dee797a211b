"""The study registry: every paper's claim check, keyed by ``kind``. Each config has ``needs_data`` (whether it
takes the pipeline's prepared data) and ``run(data, seed) -> StudyReport``."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from spotlab.tasks.attack.studies import CGDComparisonConfig, PRLComparisonConfig
from spotlab.tasks.compress.studies import EdenVNMSEConfig
from spotlab.tasks.distributed.studies import DEFvsEFConfig, EdenStudyConfig
from spotlab.tasks.ensemble.studies import FSPIComparisonConfig
from spotlab.tasks.federated.studies import NTKFLRoundsConfig
from spotlab.tasks.imbalance.studies import RankSimRegressionConfig
from spotlab.tasks.graph.studies import ICGMMStudyConfig
from spotlab.tasks.landscape.studies import DiagonalSAMConfig, SAMComparisonConfig, ToroidsConfig
from spotlab.tasks.neural.studies import NeuralRobustnessConfig
from spotlab.tasks.ood.studies import WOODSComparisonConfig
from spotlab.tasks.prune.studies import PACNetTransferConfig, RamanujanTicketsConfig
from spotlab.tasks.study.seeds import SeedSweepConfig

# One line per study, so that adding a paper touches one line.
STUDIES = {cfg.model_fields["kind"].default: cfg for cfg in (
    SeedSweepConfig,
    SAMComparisonConfig,
    DiagonalSAMConfig,
    ToroidsConfig,
    RamanujanTicketsConfig,
    PACNetTransferConfig,
    CGDComparisonConfig,
    PRLComparisonConfig,
    DEFvsEFConfig,
    EdenVNMSEConfig,
    EdenStudyConfig,
    FSPIComparisonConfig,
    WOODSComparisonConfig,
    NeuralRobustnessConfig,
    RankSimRegressionConfig,
    NTKFLRoundsConfig,
    ICGMMStudyConfig,
)}

StudyConfig = Annotated[Union[tuple(STUDIES.values())], Field(discriminator="kind")]
