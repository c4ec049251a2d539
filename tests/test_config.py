import copy
import dataclasses
import re
import typing
from pathlib import Path

import pytest

from simnet.config import Config, check_trainable, load_config, validate
from simnet.distances import METRICS
from simnet.errors import SimNetError


def test_overrides_are_typed_and_checked() -> None:
    config = load_config(
        None,
        [
            "train.epochs=3",
            "model.scales=[]",
            "train.bf16=off",
            "mining.max_negatives=null",
            "loss.balance=false",
        ],
    )
    assert config.train.epochs == 3 and config.model.scales == []
    assert config.train.bf16 == "off" and config.mining.max_negatives is None
    assert config.loss.balance is False
    with pytest.raises(SimNetError, match="train.epochs"):
        load_config(None, ["train.epochs=2.5"])
    with pytest.raises(SimNetError, match="unknown section"):
        load_config(None, ["nope.x=1"])


def test_a_saved_config_loads_back(tmp_path: Path) -> None:
    config = load_config(None, ["train.lr=0.05", "augment.rotation=10", "train.bf16=on"])
    config.save(tmp_path / "c.yaml")
    again = load_config(tmp_path / "c.yaml")
    assert again == config


def test_yaml_with_code_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(SimNetError, match="not valid YAML"):
        load_config(bad)


def choice_fields() -> list[tuple[str, tuple[str, ...]]]:
    """Every ``section.key`` whose annotation is ``Literal[...]``, with its values."""
    found = []
    for section in dataclasses.fields(Config):
        part = typing.get_type_hints(Config)[section.name]
        hints = typing.get_type_hints(part)
        for key, hint in hints.items():
            if typing.get_origin(hint) is typing.Literal:
                found.append((f"{section.name}.{key}", typing.get_args(hint)))
    return found


def test_the_enumerated_settings_are_the_literal_annotations() -> None:
    assert dict(choice_fields()) == {
        "data.labels": ("family", "design"),
        "model.view_fusion": ("concat", "mean"),
        "loss.name": ("contrastive", "cross-entropy"),
        "loss.metric": METRICS,
        "train.schedule": ("one-cycle", "constant"),
        "train.bf16": ("auto", "on", "off"),
        "train.tensorboard": ("auto", "on", "off"),
    }


@pytest.mark.parametrize(("key", "allowed"), choice_fields())
def test_each_enumerated_setting_takes_its_values_and_names_a_bad_one(key, allowed) -> None:
    for value in allowed:
        config = load_config(None, [f"{key}={value}"])
        section, leaf = key.split(".")
        assert getattr(getattr(config, section), leaf) == value
    with pytest.raises(SimNetError) as error:
        load_config(None, [f"{key}=bogus"])
    message = str(error.value)
    assert message.startswith(f"config: {key} must be ") and "'bogus'" in message
    assert all(value in message for value in allowed) and len(message.splitlines()) == 1


def test_a_bad_metric_is_a_config_error_not_a_crash() -> None:
    with pytest.raises(SimNetError, match="loss.metric must be euclidean, cosine or l1"):
        load_config(None, ["loss.metric=hamming"])


def test_yaml_on_and_off_read_as_the_words(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  bf16: on\n")
    assert load_config(path).train.bf16 == "on"
    assert load_config(None, ["train.bf16=off"]).train.bf16 == "off"


def test_validate_checks_a_config_built_in_code() -> None:
    config = Config()
    config.loss.metric = "hamming"  # type: ignore[assignment]
    with pytest.raises(SimNetError, match="loss.metric must be"):
        validate(config)
    config = Config()
    config.train.epochs = 0
    with pytest.raises(SimNetError, match="train.epochs must be at least 1"):
        validate(config)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.patience=2"], "train.patience (early stopping) needs a validation split"),
        (["train.shards=0"], "train.shards must be at least 1"),
        (["mining.outlier_fraction=0.5"], "mining.outlier_fraction must be in [0, 0.5)"),
        (
            ["model.branch_dim=[1,2,3]"],
            "model.branch_width and model.branch_dim take one value or one per scale",
        ),
        (["eval.ks=[0]"], "eval.ks must be positive"),
        (["data.image_size=4"], "data.image_size must be at least 8"),
        (["data.max_aspect=0.5"], "data.max_aspect must be at least 1 (or null: aspect kept)"),
        (["train.groups_per_batch=-1"], "train.groups_per_batch must be 0 (off) or more"),
        (["loss.group_radius=2"], "loss.group_radius must be below loss.group_margin"),
    ],
)
def test_range_rules_keep_their_messages(overrides: list[str], message: str) -> None:
    with pytest.raises(SimNetError, match=re.escape(f"config: {message}")):
        load_config(None, overrides)


PACKAGES_WITHOUT_DATA = (
    "a multi-view model needs a design library: pass --data DIR "
    "(make one with simnet generate-packages --out DIR)"
)


@pytest.mark.parametrize(
    ("preset", "overrides", "message"),
    [
        (
            "packages",
            ["loss.name=cross-entropy"],
            "loss.name=cross-entropy needs single images with class labels",
        ),
        (
            "packages",
            ["mining.strategy=offline"],
            "mining.strategy=offline needs single images with class labels",
        ),
        (
            None,
            ["train.shards=3"],
            "train.batch_size (500) must divide into 3 equal slices "
            "(train.shards, or the number of processes)",
        ),
    ],
)
def test_settings_that_cannot_train_together_fail_on_load(preset, overrides, message) -> None:
    with pytest.raises(SimNetError) as error:
        load_config(None, ["data.source=somewhere", *overrides], preset=preset)
    assert str(error.value) == message
    config = load_config(None, ["data.source=somewhere"], preset=preset)
    section, _, rest = overrides[0].partition(".")
    key, _, value = rest.partition("=")
    with pytest.raises(SimNetError) as again:
        check_trainable(config.replace(**{section: {key: value}}))
    assert str(again.value) == message


def test_a_multi_view_model_needs_data_to_train_but_not_to_load() -> None:
    config = load_config(preset="packages")  # builds a model, say; training needs data
    with pytest.raises(SimNetError) as error:
        check_trainable(config)
    assert str(error.value) == PACKAGES_WITHOUT_DATA
    check_trainable(load_config(None, ["data.source=designs"], preset="packages"))
    check_trainable(load_config())  # single images: the default data set


def test_replace_makes_a_checked_copy_and_leaves_the_original() -> None:
    config = load_config(None, ["train.shards=2"])
    before = copy.deepcopy(config)
    changed = config.replace(
        data={"source": "/data/x"}, model={"classes": "10"}, train={"shards": 4}
    )
    assert config == before  # untouched
    assert (changed.data.source, changed.model.classes, changed.train.shards) == ("/data/x", 10, 4)
    assert changed.model.widths is not config.model.widths  # nothing shared
    twin = config.copy()
    twin.model.widths.append(7)
    assert config == before
    with pytest.raises(SimNetError, match="unknown key train.nope"):
        config.replace(train={"nope": 1})
    with pytest.raises(SimNetError, match="loss.metric must be"):
        config.replace(loss={"metric": "hamming"})
