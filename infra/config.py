"""Loading pipeline configs: YAML/JSON → profile and ``--set`` overrides → the typed :class:`PipelineConfig`.

The config models themselves live next to the code they configure; this module only assembles the pipeline
config from the families' models, loads files, applies overrides and turns validation errors into messages that
name the file, the field path, the offending value and the choices.
"""

from __future__ import annotations

import copy
import importlib.util
import reprlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from spotlab.infra.kube.resources import StageResources, combined
from spotlab.infra.settings import STAGE_EXECUTION_ENV, default_artifact_url, default_stage_execution
from spotlab.models.config import ConfigModel, Seed
from spotlab.tasks.attack.config import AttackStageConfig
from spotlab.tasks.data.config import DataConfig
from spotlab.tasks.evaluate.config import EvaluateConfig
from spotlab.tasks.federated.config import FederatedConfig
from spotlab.tasks.graph.config import GraphClassifyConfig, GraphEmbedConfig
from spotlab.tasks.landscape.config import LandscapeStageConfig
from spotlab.tasks.ood.config import OODStageConfig
from spotlab.tasks.neural.config import SensitivityStageConfig
from spotlab.tasks.prune.config import PruneStageConfig
from spotlab.tasks.study.config import StudyConfig
from spotlab.tasks.train.config import TrainConfig

StageName = Literal["prep", "train", "evaluate", "ood", "attack", "prune", "landscape", "sensitivity", "federated",
                    "embed", "classify", "study"]
STAGE_ORDER: tuple[str, ...] = ("prep", "train", "evaluate", "ood", "attack", "prune", "landscape", "sensitivity",
                                "federated", "embed", "classify", "study")
# Stages that run only when their section is present (or they are listed in ``stages``).
OPTIONAL_STAGES: tuple[str, ...] = ("ood", "attack", "prune", "landscape", "sensitivity", "federated", "embed",
                                    "classify", "study")


class ConfigError(ValueError):
    """A config that cannot be used; the message names the source, the field path and the fix."""


class StorageConfig(ConfigModel):
    model_config = ConfigDict(regex_engine="python-re")  # the URL pattern needs a look-ahead

    url: str = Field(
        default_factory=default_artifact_url,
        pattern=r"^(s3://[^/]+(/.*)?|file://.+|(?![A-Za-z][A-Za-z0-9+.-]*://).+)$",
        description="Artifact store: a directory (default ./spotlab-artifacts or $SPOTLAB_ARTIFACTS), "
        "file:///path or s3://bucket/prefix; no other scheme.",
    )
    endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint (MinIO, Ceph, moto...); falls back to $AWS_ENDPOINT_URL."
    )


class ExecutionConfig(ConfigModel):
    stages: Literal["inline", "deployments"] = Field(
        default_factory=default_stage_execution,
        validate_default=True,
        description="Where the pipeline runs its stages: inline (in the pipeline's own process; the default, or "
        f"${STAGE_EXECUTION_ENV}) or deployments (each stage as its own Prefect flow run of the deployment "
        "'<stage>/spotlab' on its work pool, with execution.resources.<stage> as its job variables, while the "
        "pipeline only orchestrates; needs a Prefect server, `spotlab deploy`, and an s3:// store).",
    )
    retries: int = Field(0, ge=0, le=10, description="Prefect retries of a failed stage (train resumes).")
    retry_delay_s: float = Field(2.0, ge=0, description="Seconds between retries.")
    resources: dict[StageName, StageResources] = Field(
        default_factory=dict,
        description="Per-stage Kubernetes job resources, e.g. {train: {gpus: 1}} makes train a GPU job.",
    )

    def stage_resources(self, stage: str) -> StageResources:
        return self.resources.get(stage, StageResources())

    def pipeline_resources(self) -> StageResources:
        """What the job running the pipeline flow needs: with stages as deployments only orchestration (no GPU),
        else the most any of its stages asks for (they all run in it)."""
        return StageResources() if self.stages == "deployments" else combined(list(self.resources.values()))


_OPERATIONAL = {"identity": False}


class PipelineConfig(ConfigModel):
    """A whole experiment: data → train → evaluate (→ the optional stages), one seed, one artifact store."""

    name: str = Field("spotlab", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="Experiment name.")
    seed: Seed = Field(0, description="Seeds data splits, initialisation and shuffling.")
    stages: list[StageName] | None = Field(
        None, description="Stages to run (in pipeline order); default: prep, train, evaluate and every optional "
        "stage whose section is given."
    )
    data: DataConfig = Field(default_factory=DataConfig, description="Data preparation.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="Training.")
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig, description="Evaluation.")
    ood: OODStageConfig | None = Field(None, description="OOD detection from wild data (WOODS, OE, energy).")
    attack: AttackStageConfig | None = Field(None, description="Attack evaluation of the trained model.")
    prune: PruneStageConfig | None = Field(None, description="Pruning and spectral analysis of the trained model.")
    landscape: LandscapeStageConfig | None = Field(None, description="Loss-landscape analysis of the trained model.")
    sensitivity: SensitivityStageConfig | None = Field(
        None, description="Neural-site sensitivity of readouts of the trained model (Guo et al.).")
    federated: FederatedConfig | None = Field(None, description="Federated training (FedAvg, NTK-FL) on the prepared data.")
    embed: GraphEmbedConfig | None = Field(
        None, description="Graph embeddings from CGMM/iCGMM node-state posteriors (unigram, bigram per layer).")
    classify: GraphClassifyConfig | None = Field(
        None, description="k-fold MLP accuracy of graph classes from the embed stage's embeddings.")
    study: StudyConfig | None = Field(None, description="A paper's claim check (by kind); see examples/papers/.")
    storage: StorageConfig = Field(
        default_factory=StorageConfig, description="Where artifacts go.", json_schema_extra=_OPERATIONAL
    )
    execution: ExecutionConfig = Field(
        default_factory=ExecutionConfig, description="Retries and other orchestration settings.",
        json_schema_extra=_OPERATIONAL,
    )
    profiles: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Named sets of dotted overrides (e.g. quick: {train.epochs: 2}) selected with --profile.",
        json_schema_extra=_OPERATIONAL,
    )

    @model_validator(mode="after")
    def _stages_have_sections(self):
        for stage in self.stages or ():
            if stage in OPTIONAL_STAGES and getattr(self, stage) is None:
                raise ValueError(f"stages lists {stage!r} but the config has no {stage!r} section")
        return self

    @model_validator(mode="after")
    def _stage_jobs_share_a_store(self):
        if self.execution.stages == "deployments" and not self.storage.url.startswith("s3://"):
            raise ValueError(
                f"execution.stages='deployments' runs each stage in its own job, which cannot reach the local store "
                f"storage.url={brief(self.storage.url)}; use an s3:// store or execution.stages='inline'")
        return self

    def active_stages(self) -> list[str]:
        chosen = set(self.stages) if self.stages is not None else {
            *(s for s in STAGE_ORDER if s not in OPTIONAL_STAGES or getattr(self, s) is not None)
        }
        return [s for s in STAGE_ORDER if s in chosen]


SCHEMAS: dict[str, Any] = {
    "pipeline": PipelineConfig,
    "data": DataConfig,
    "train": TrainConfig,
    "evaluate": EvaluateConfig,
    "ood": OODStageConfig,
    "attack": AttackStageConfig,
    "prune": PruneStageConfig,
    "landscape": LandscapeStageConfig,
    "sensitivity": SensitivityStageConfig,
    "federated": FederatedConfig,
    "embed": GraphEmbedConfig,
    "classify": GraphClassifyConfig,
    "study": StudyConfig,
}


def json_schema(name: str = "pipeline") -> dict[str, Any]:
    if name not in SCHEMAS:
        raise ConfigError(f"no schema {brief(name)}; choose one of {sorted(SCHEMAS)}")
    return require_discriminators(TypeAdapter(SCHEMAS[name]).json_schema())


def require_discriminators(schema: Any) -> Any:
    """Mark the tag of every discriminated union required in the JSON schema, as the validator has it (``kind`` has
    a default in each model, which pydantic writes as optional). Only the union's branches change, as
    ``allOf: [model, {required: [kind]}]``: the same model used outside a union keeps its optional ``kind``."""
    if isinstance(schema, dict):
        tag = schema.get("discriminator", {}).get("propertyName") if "oneOf" in schema else None
        for value in schema.values():
            require_discriminators(value)
        if tag is not None:
            schema["oneOf"] = [{"allOf": [branch, {"required": [tag]}]} for branch in schema["oneOf"]]
    elif isinstance(schema, list):
        for value in schema:
            require_discriminators(value)
    return schema


# Limits on what a config file may make the loader build. A config is a few hundred values; these bounds leave room
# for anchors shared a few times and refuse alias bombs (billion laughs) before anything is expanded.
MAX_DEPTH = 100
MAX_EXPANDED_NODES = 100_000
MAX_CONFIG_BYTES = 1 << 20


class YAMLLimitError(yaml.MarkedYAMLError):
    """A YAML document refused for its shape (depth, alias expansion, a self-referencing alias)."""


class GuardedLoader(yaml.SafeLoader):
    """YAML's safe loader, plus limits checked while the node graph is composed (aliases are still shared
    references there, so nothing has been expanded yet): nesting deeper than :data:`MAX_DEPTH`, a document whose
    aliases would expand to more than :data:`MAX_EXPANDED_NODES` values, and an alias inside its own anchor."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._open_anchors: set[str] = set()
        self._expanded: dict[int, int] = {}  # id(node) → values it stands for once every alias is expanded

    def fetch_flow_collection_start(self, token_class):
        # Refused while scanning too: PyYAML's scanner slows quadratically on deep runs of '[' and '{'.
        if self.flow_level >= MAX_DEPTH:
            raise YAMLLimitError(None, None, f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        super().fetch_flow_collection_start(token_class)

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) and event.anchor in self._open_anchors:
            raise YAMLLimitError(None, None, f"alias *{event.anchor} refers to its own anchor",
                                              event.start_mark)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YAMLLimitError(None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        anchor = getattr(event, "anchor", None) if not isinstance(event, yaml.AliasEvent) else None
        if anchor is not None:
            self._open_anchors.add(anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._open_anchors.discard(anchor)
        if id(node) not in self._expanded:
            self._expanded[id(node)] = 1 + sum(self._expanded[id(child)] for child in _children(node))
            if self._expanded[id(node)] > MAX_EXPANDED_NODES:
                raise YAMLLimitError(
                    None, None, f"its aliases expand to more than {MAX_EXPANDED_NODES} values (an alias bomb?)",
                    event.start_mark)
        return node


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []


def parse_yaml(text: str, source: str) -> Any:
    """``text`` as YAML (JSON included) under :class:`GuardedLoader`'s limits; a :class:`ConfigError` naming
    ``source`` and the line otherwise."""
    try:
        return yaml.load(text, Loader=GuardedLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = "refused" if isinstance(exc, YAMLLimitError) else "malformed"
        raise ConfigError(f"{source}: {what} YAML/JSON{where}: {cut(str(getattr(exc, 'problem', None) or exc))}") \
            from exc


def cut(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def brief(value: Any) -> str:
    """A value as an error message shows it: its repr cut to a line, however large the value."""
    return _BRIEF.repr(value)


_BRIEF = reprlib.Repr()  # keyword arguments only from Python 3.12
_BRIEF.maxlevel, _BRIEF.maxdict, _BRIEF.maxlist, _BRIEF.maxstring, _BRIEF.maxother, _BRIEF.maxlong = 3, 6, 6, 80, 80, 40


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` → (["a", "b", "c"], value parsed as a YAML scalar or flow collection)."""
    if "=" not in text:
        raise ConfigError(f"--set {brief(text)}: expected dotted.path=value")
    path, raw = text.split("=", 1)
    keys = path.strip().split(".")
    if not all(keys):
        raise ConfigError(f"--set {brief(text)}: empty segment in path {brief(path)}")
    value = parse_yaml(raw, f"--set {brief(text)}") if raw.strip() else ""
    return keys, value


def apply_override(raw: dict[str, Any], keys: list[str], value: Any, origin: str) -> None:
    node = raw
    for depth, key in enumerate(keys[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            where = ".".join(keys[: depth + 1])
            raise ConfigError(f"{origin}: cannot set {brief('.'.join(keys))}: {where} is {brief(child)}, not a mapping")
        node = child
    node[keys[-1]] = value


def _readable_loc(raw: Any, loc: tuple) -> str:
    """Field path without pydantic's union-tag elements (``train.optimizer.sgd.lr`` → ``train.optimizer.lr``)."""
    parts, node = [], raw
    for item in loc:
        if isinstance(node, dict) and item not in node and node.get("kind") == item:
            continue
        parts.append(cut(str(item)))
        node = node.get(item) if isinstance(node, dict) else (
            node[item] if isinstance(node, list) and isinstance(item, int) and item < len(node) else None
        )
    return ".".join(parts) or "<root>"


def format_validation_error(source: str, raw: Any, exc: ValidationError) -> str:
    lines = [f"{source}: invalid config"]
    for err in exc.errors():
        where = _readable_loc(raw, err["loc"])
        if err["type"] == "union_tag_invalid":
            tags = err["ctx"]["expected_tags"]
            lines.append(f"  {where}.kind={brief(err['ctx']['tag'])} is unknown; choose one of [{tags}]")
        elif err["type"] == "union_tag_not_found":
            lines.append(f"  {where}: needs a 'kind' to choose the method (see `spotlab schema`)")
        elif err["type"] == "extra_forbidden":
            lines.append(f"  {where}: unknown field (check the spelling; see `spotlab schema`)")
        elif err["type"] == "missing":
            lines.append(f"  {where}: required field is missing")
        else:
            lines.append(f"  {where}: {err['msg']} (got {brief(err.get('input'))})")
    return "\n".join(lines)


def bundled_examples() -> Path:
    """The folder of example configs shipped in the distribution (``examples/`` of a checkout, installed as the
    data package ``spotlab.examples``), so commands work from any directory and from a wheel install."""
    spec = importlib.util.find_spec("spotlab.examples")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location).is_dir():
            return Path(location)
    raise ConfigError("this installation of spotlab has no bundled examples (spotlab.examples is missing)")


def example_names() -> list[str]:
    """Bundled configs by name: ``quickstart``, ``papers/def``, ..."""
    root = bundled_examples()
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.yaml"))


def config_path(name: str | Path) -> Path:
    """A config file: ``name`` as a path when it exists, else the bundled example of that name."""
    path = Path(name)
    if path.is_file():
        return path
    bundled = bundled_examples() / f"{path.as_posix().removesuffix('.yaml')}.yaml"
    if not path.is_absolute() and ".." not in path.parts and bundled.is_file():
        return bundled
    raise ConfigError(f"{path}: no such config file, and no bundled example of that name "
                      "(`spotlab examples` lists them)")


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = config_path(path)
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {path.stat().st_size} bytes is too large for a config (at most {MAX_CONFIG_BYTES})")
    try:
        raw = parse_yaml(path.read_text(), str(path))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file ({exc})") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(raw).__name__}")
    return raw


def resolve(
    raw: dict[str, Any], source: str, overrides: list[str] = (), profile: str | None = None
) -> PipelineConfig:
    """Apply the named profile, then ``--set`` overrides, then validate."""
    raw = copy.deepcopy(raw)
    if profile is not None:
        profiles = raw.get("profiles") or {}
        if profile not in profiles:
            raise ConfigError(f"{source}: profile {brief(profile)} is not defined; "
                              f"available: {brief(sorted(profiles))}")
        for dotted, value in profiles[profile].items():
            apply_override(raw, dotted.split("."), value, f"{source}: profiles.{profile}")
    for text in overrides:
        keys, value = parse_override(text)
        apply_override(raw, keys, value, f"--set {brief(text)}")
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, raw, exc)) from exc


def load_config(path: str | Path, overrides: list[str] = (), profile: str | None = None) -> PipelineConfig:
    return resolve(read_config_file(path), str(config_path(path)), overrides, profile)
