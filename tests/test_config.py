from pathlib import Path

import pytest

from simnet.config import load_config
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
