"""Hostile and clumsy input: values that would validate and then kill the run, YAML built to exhaust the loader, and
messages that must reach the terminal exactly as written."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from spotlab.infra.cli import app as cli
from spotlab.infra.config import MAX_DEPTH, ConfigError, PipelineConfig, json_schema, load_config, resolve
from spotlab.models.config import ConfigModel


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def write(tmp_path, text: str, name: str = "cfg.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


# One case per value class: the dotted override and the field path the error must name.
BAD_VALUES = [
    ("train.model={kind: mlp, hidden: [16, 0]}", "train.model.hidden.1"),
    ("train.model={kind: cnn-small, channels: [-3]}", "train.model.channels.0"),
    ("train.optimizer={kind: sgd, lr: .nan}", "train.optimizer.lr"),
    ("train.optimizer={kind: sgd, lr: .inf}", "train.optimizer.lr"),
    ("train.optimizer={kind: sgd, lr: 1e400}", "train.optimizer.lr"),
    ("data.val_fraction=-.inf", "data.val_fraction"),
    ("seed=4294967296", "seed"),
    ("seed=-1", "seed"),
    ("train.epochs=true", "train.epochs"),
    ("train.model={kind: mlp, hidden: [true]}", "train.model.hidden.0"),
    ("train.optimizer={kind: sgd, lr: 0.1, nesterov: 0.0}", "train.optimizer.nesterov"),
    ("train.model={kind: mlp, hidden: [16], bias: 'yes'}", "train.model.bias"),
    ("storage.url=http://example.com/store", "storage.url"),
    ("storage.url=gs://bucket", "storage.url"),
]


@pytest.mark.parametrize("override, where", BAD_VALUES)
def test_values_that_would_kill_the_run_are_refused_with_their_field_path(override, where):
    with pytest.raises(ConfigError) as info:
        resolve({}, "cfg.yaml", [override])
    assert f"\n  {where}: " in str(info.value), str(info.value)


@pytest.mark.parametrize("override", ["seed=4294967295", "seed=0", "train.optimizer={kind: sgd, lr: 1e-3}",
                                      "train.epochs=3.0", "train.model={kind: mlp, hidden: [16], bias: false}",
                                      "storage.url=s3://bucket/prefix",
                                      "storage.url=file:///tmp/store", "storage.url=relative/store"])
def test_the_edges_of_those_classes_still_validate(override):
    resolve({}, "cfg.yaml", [override])


def test_every_config_model_derives_from_the_hardened_base():
    """The rules hold for every model a pipeline config can reach, including ones added later."""
    seen, stack = set(), [PipelineConfig]
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen.add(model)
        assert issubclass(model, ConfigModel), model
        for field in model.model_fields.values():
            stack.extend(_models_in(field.annotation))
    assert len(seen) > 30


def _models_in(annotation) -> list[type]:
    import typing

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


def test_the_schema_refuses_what_the_validator_refuses():
    schema = json_schema()
    defs = schema["$defs"]
    assert defs["DEFAConfig"]["not"] == {}  # kind def-a is in the union only to explain why it is refused
    feedback = defs["DistributedConfig"]["properties"]["feedback"]
    assert all({"required": ["kind"]} in branch["allOf"] for branch in feedback["oneOf"])
    # The same model used outside a discriminated union keeps its optional kind, as the validator has it.
    assert "kind" not in defs["MLPConfig"].get("required", [])


def billion_laughs(levels: int = 9) -> str:
    lines = ['l0: &l0 "lol"']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


HOSTILE = {
    "alias-bomb": (billion_laughs(), "aliases expand to more than"),
    "self-alias-list": ("train: &x [1, *x]\n", "alias *x refers to its own anchor"),
    "self-alias-map": ("train: &x {model: *x}\n", "alias *x refers to its own anchor"),
    "deep-flow": ("train: " + "[" * 50_000 + "]" * 50_000 + "\n", f"nested deeper than {MAX_DEPTH} levels"),
    "deep-block": ("a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 3 * MAX_DEPTH)),
                   f"nested deeper than {MAX_DEPTH} levels"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_yaml_is_refused_fast_with_exit_2(tmp_path, name):
    text, expected = HOSTILE[name]
    path = write(tmp_path, text)
    started = time.monotonic()
    result = invoke("validate", str(path))
    elapsed = time.monotonic() - started
    assert result.exit_code == 2, result.output
    assert f"error: {path}: refused YAML/JSON at line " in result.output and expected in result.output
    assert elapsed < 2, f"{name} took {elapsed:.2f}s"
    assert len(result.output) < 400  # the message never carries the document


def test_anchors_used_a_few_times_still_load(tmp_path):
    path = write(tmp_path, "data: &d {val_fraction: 0.2}\nprofiles: {quick: {data: *d, train.epochs: 1}}\n")
    assert load_config(path, profile="quick").data.val_fraction == 0.2


def test_large_values_are_cut_in_messages(tmp_path):
    huge = "x" * 100_000
    path = write(tmp_path, f"name: {huge}\ntrain: {{model: {{kind: {huge}}}}}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(str(info.value)) < 1000 and "xxx..." in str(info.value)


def test_values_are_printed_literally_not_as_markup(tmp_path):
    path = write(tmp_path, 'train: {optimizer: {kind: "[/x] [bold]sgd :smile:"}}\n', name="[red]cfg.yaml")
    result = invoke("validate", str(path))
    assert result.exit_code == 2
    assert f"error: {path}: invalid config" in result.output
    assert "train.optimizer.kind='[/x] [bold]sgd :smile:' is unknown" in result.output


def test_a_missing_file_named_like_markup_is_reported_literally(tmp_path):
    result = invoke("validate", str(tmp_path / "[/x].yaml"))
    assert result.exit_code == 2
    assert f"error: {tmp_path}/[/x].yaml: no such config file" in result.output
