"""Config loading: overrides, profiles and error messages that name the file and the field path."""

from __future__ import annotations

import pytest

from spotlab.infra.config import ConfigError, load_config, parse_override


def write(tmp_path, text: str):
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, expected",
    [
        ("train: {epochs: 0}", r"train\.epochs: Input should be greater than or equal to 1"),
        ("train: {optimizer: {kind: sgd, lr: -1}}", r"train\.optimizer\.lr: Input should be greater than 0"),
        ("train: {epochs: three}", r"train\.epochs: Input should be a valid integer"),
        ("train: {epoch: 3}", r"train\.epoch: unknown field"),
        ("data: {dataset: {kind: imagenet}}", r"data\.dataset\.kind='imagenet' is unknown; choose one of \["),
        ("train: {model: {kind: vgg}}", r"train\.model\.kind='vgg' is unknown; choose one of \['mlp'"),
        ("train: {model: {hidden: [3]}}", r"train\.model: needs a 'kind'"),
        ("stages: [prep, study]", r"stages lists 'study' but the config has no 'study' section"),
        ("train: [1, 2", r"malformed YAML/JSON at line 1"),
        ("- just a list", r"the top level must be a mapping"),
    ],
)
def test_bad_configs_name_the_file_and_field(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")


def test_json_files_load(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text('{"seed": 7, "train": {"epochs": 2}}')
    config = load_config(path)
    assert (config.seed, config.train.epochs) == (7, 2)


def test_overrides_and_profiles(tmp_path):
    path = write(tmp_path, "train: {epochs: 5}\nprofiles: {quick: {train.epochs: 1, train.batch_size: 8}}\n")
    config = load_config(path, ["train.model={kind: mlp, hidden: [16]}", "train.optimizer.kind=adam"], profile="quick")
    assert config.train.epochs == 1 and config.train.batch_size == 8
    assert config.train.model.hidden == [16]
    assert config.train.optimizer.kind == "adam"
    with pytest.raises(ConfigError, match="profile 'slow' is not defined; available: \\['quick'\\]"):
        load_config(path, profile="slow")


@pytest.mark.parametrize("text", ["train.epochs", "train..epochs=3", "train.epochs=[1"])
def test_malformed_overrides(text):
    with pytest.raises(ConfigError, match="--set"):
        parse_override(text)


def test_override_into_a_scalar_is_an_error(tmp_path):
    path = write(tmp_path, "seed: 1\n")
    with pytest.raises(ConfigError, match="seed is 1, not a mapping"):
        load_config(path, ["seed.value=2"])


def test_default_stages_follow_the_sections(tmp_path):
    assert load_config(write(tmp_path, "{}")).active_stages() == ["prep", "train", "evaluate"]
    config = load_config(write(tmp_path, "stages: [prep, study]\nstudy: {kind: seed-sweep}\n"))
    assert config.active_stages() == ["prep", "study"]
