"""Training through the Python API: seeding, checkpoints and resume."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from simnet.config import load_config
from simnet.errors import SimNetError
from simnet.train import loop, step, train
from simnet.train.checkpoint import load_state, save_state
from tests.conftest import make_tree

SMALL = [
    "model.widths=[4,8,8,8]",
    "model.branch_width=4",
    "model.embedding_dim=8",
    "train.batch_size=16",
    "train.per_class=4",
    "train.epochs=3",
]


def config_for(data: Path, *extra: str):
    return load_config(None, [f"data.source={data}", *SMALL, *extra])


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model.safetensors"))


@pytest.mark.parametrize("ema", ["0", "0.9"])
def test_a_resumed_run_ends_where_an_uninterrupted_one_does(
    tmp_path: Path, monkeypatch, ema: str
) -> None:
    data = make_tree(tmp_path / "data", per_class=12)
    whole = train(config_for(data, f"train.ema_decay={ema}"), tmp_path / "whole", progress=False)

    real_save, saves = loop.save_state, []

    def crash_after_two(run_dir, state):
        real_save(run_dir, state)
        saves.append(1)
        if len(saves) == 2:
            raise KeyboardInterrupt  # as if killed right after the second checkpoint

    monkeypatch.setattr(loop, "save_state", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        train(config_for(data, f"train.ema_decay={ema}"), tmp_path / "cut", progress=False)
    assert not (tmp_path / "cut" / "model.safetensors").exists()
    monkeypatch.setattr(loop, "save_state", real_save)
    train(config_for(data, f"train.ema_decay={ema}"), tmp_path / "cut", resume=True, progress=False)
    a, b = weights(whole), weights(tmp_path / "cut")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)


def test_a_run_resumed_within_an_epoch_ends_where_an_uninterrupted_one_does(
    tmp_path: Path, monkeypatch
) -> None:
    # 16 a class: whatever the hashed test split takes, every epoch has two steps or more.
    data = make_tree(tmp_path / "data", per_class=16)
    whole = train(config_for(data), tmp_path / "whole", progress=False)
    every_step = "train.checkpoint_minutes=1e-9"
    real_save, saves = loop.save_state, []

    def crash_after_five(run_dir, state):
        real_save(run_dir, state)
        saves.append(state)
        if len(saves) == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "save_state", crash_after_five)
    with pytest.raises(KeyboardInterrupt):
        train(config_for(data, every_step), tmp_path / "cut", progress=False)
    assert sum(1 for s in saves if s.get("within")) >= 3  # most saves were within an epoch
    last = saves[-1]
    assert last.get("within") and last["within"]["step"] >= 1
    monkeypatch.setattr(loop, "save_state", real_save)
    train(config_for(data, every_step), tmp_path / "cut", resume=True, progress=False)
    a, b = weights(whole), weights(tmp_path / "cut")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
    rows = (tmp_path / "cut" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 3  # one row per epoch, the interrupted one too


def test_the_same_seed_gives_the_same_model(tmp_path: Path) -> None:
    data = make_tree(tmp_path / "data", per_class=12)
    a = weights(train(config_for(data, "train.epochs=1"), tmp_path / "a", progress=False))
    b = weights(train(config_for(data, "train.epochs=1"), tmp_path / "b", progress=False))
    c = weights(
        train(config_for(data, "train.epochs=1", "train.seed=5"), tmp_path / "c", progress=False)
    )
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_a_non_finite_loss_stops_the_run_and_keeps_the_checkpoint(
    tmp_path: Path, monkeypatch
) -> None:
    data = make_tree(tmp_path / "data", per_class=12)
    run = tmp_path / "run"
    train(config_for(data, "train.epochs=1"), run, progress=False)
    before = (run / "checkpoint.pt").read_bytes()
    # A learning rate that blows up is refused with the config (train.lr <= 100): the loss
    # is made non-finite here instead.
    monkeypatch.setattr(step.ContrastiveLoss, "forward", lambda self, e, p: e.sum() * math.inf)
    with pytest.raises(SimNetError, match="non-finite"):
        train(config_for(data, "train.epochs=2"), tmp_path / "boom", progress=False)
    assert (run / "checkpoint.pt").read_bytes() == before
    assert not (tmp_path / "boom" / "checkpoint.pt").exists()


def test_resolved_config_and_metrics_are_written(tmp_path: Path) -> None:
    data = make_tree(tmp_path / "data", per_class=12)
    algorithm_1 = ["mining.lambda_start=0", "mining.lambda_step=null"]  # 1/epochs from 0
    config = config_for(data, "train.epochs=2", "data.val_fraction=0.25", *algorithm_1)
    run = train(config, tmp_path / "r", progress=False)
    saved = load_config(run / "config.yaml")
    assert saved.train.epochs == 2 and saved.data.source == str(data)
    header, *rows = (run / "metrics.csv").read_text().splitlines()
    assert header.startswith("epoch,lambda") and len(rows) == 2
    lambdas = [float(r.split(",")[1]) for r in rows]
    assert lambdas == [0.5, 1.0]
    assert all(r.split(",")[6] for r in rows)  # validation loss present


def test_weight_averaging_saves_the_average(tmp_path: Path) -> None:
    data = make_tree(tmp_path / "data", per_class=12)
    plain = weights(train(config_for(data, "train.epochs=2"), tmp_path / "plain", progress=False))
    averaged = weights(
        train(
            config_for(data, "train.epochs=2", "train.ema_decay=0.5"),
            tmp_path / "ema",
            progress=False,
        )
    )
    assert plain.keys() == averaged.keys()
    assert not all(
        torch.equal(plain[k], averaged[k]) for k in plain if plain[k].is_floating_point()
    )


def test_the_default_data_path_is_recorded_absolute(tmp_path: Path, monkeypatch) -> None:
    data = make_tree(tmp_path / "data", per_class=12)
    monkeypatch.setenv("SIMNET_DATA", str(data))
    config = load_config(None, [*SMALL, "train.epochs=1"])
    assert config.data.source is None
    run = train(config, tmp_path / "r", progress=False)
    assert load_config(run / "config.yaml").data.source == str(data.resolve())


def test_early_stopping_keeps_the_best_epochs_model(tmp_path: Path, monkeypatch) -> None:
    data = make_tree(tmp_path / "data", per_class=12)
    scripted = iter([1.0, 0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2])
    models = []
    monkeypatch.setattr(loop, "validation_loss", lambda parts, val, config: next(scripted))
    real_state = loop.snapshot

    def remember(parts, epochs_done, epochs):
        models.append({k: v.clone() for k, v in parts.model.state_dict().items()})
        return real_state(parts, epochs_done, epochs)

    monkeypatch.setattr(loop, "snapshot", remember)
    config = config_for(data, "train.epochs=8", "train.patience=2", "data.val_fraction=0.2")
    run = train(config, tmp_path / "run", progress=False)
    rows = (run / "metrics.csv").read_text().splitlines()[1:]
    assert len(rows) == 4  # epoch 2 was best; 3 and 4 were not better: stop
    assert [r.split(",")[6] for r in rows] == ["1.000000", "0.500000", "0.700000", "0.800000"]
    kept = weights(run)
    for key, value in kept.items():
        torch.testing.assert_close(value, models[1][key])  # epoch 2's weights
    assert not all(torch.equal(kept[k], models[3][k]) for k in kept)
    # Resuming a run that stopped early trains no further.
    train(config, run, resume=True, progress=False)
    assert len((run / "metrics.csv").read_text().splitlines()[1:]) == 4


def test_early_stopping_needs_a_validation_split() -> None:
    with pytest.raises(SimNetError, match="data.val_fraction"):
        load_config(None, ["train.patience=3"])


def test_constant_schedule_keeps_the_learning_rate(tmp_path: Path) -> None:
    config = load_config(None, [*SMALL, "train.schedule=constant", "train.lr=0.01"])
    parts = loop.build_parts(config, total_steps=20)
    for _ in range(20):
        parts.optimizer.step()
        parts.scheduler.step()
        assert parts.optimizer.param_groups[0]["lr"] == pytest.approx(0.01)


def test_prefetching_batches_changes_nothing(tmp_path: Path) -> None:
    data = make_tree(tmp_path / "data", per_class=12)
    serial = train(config_for(data, "train.prefetch=0"), tmp_path / "serial", progress=False)
    ahead = train(config_for(data, "train.prefetch=3"), tmp_path / "ahead", progress=False)
    a, b = weights(serial), weights(ahead)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_offline_mining_re_mines_from_a_snapshot_every_n_steps(tmp_path: Path, monkeypatch) -> None:
    from simnet.mining import offline

    data = make_tree(tmp_path / "data", per_class=12)
    refreshes = []
    real = offline.OfflineSampler.refresh

    def counted(self, step):
        refreshes.append(step)
        return real(self, step)

    monkeypatch.setattr(offline.OfflineSampler, "refresh", counted)
    config = config_for(
        data, "mining.strategy=offline", "mining.offline_every=2", "mining.offline_pool=40"
    )
    run = train(config, tmp_path / "run", progress=False)
    # Steps per epoch follow the split, which hashes the (temporary) paths: count them.
    from simnet.data import ClassBalancedBatchSampler
    from simnet.data.loading import load_data

    labels = load_data(data, config.data, []).train.labels
    per_epoch = len(ClassBalancedBatchSampler(labels, 16, 4))
    expected = sorted(
        {e * per_epoch for e in range(config.train.epochs)}  # each epoch starts afresh
        | set(range(0, config.train.epochs * per_epoch, 2))
    )
    assert per_epoch >= 1 and refreshes == expected
    rows = (run / "metrics.csv").read_text().splitlines()[1:]
    assert all(int(r.split(",")[4]) > 0 and int(r.split(",")[5]) > 0 for r in rows)


def test_cross_entropy_trains_a_classifier_baseline(tmp_path: Path) -> None:
    from simnet.eval import evaluate

    data = make_tree(tmp_path / "data", per_class=30)
    config = config_for(
        data,
        "loss.name=cross-entropy",
        "train.lr=0.1",
        "train.epochs=20",
        "model.widths=[8,16,32,32]",
        "model.embedding_dim=32",
        "eval.shift=0",
    )
    run = train(config, tmp_path / "run", progress=False)
    assert "classifier.weight" in weights(run)
    result = evaluate(run)
    assert result["classifier_accuracy"] > 0.5  # four easy classes: chance is 0.25
    assert 0.0 <= result["knn_accuracy"] <= 1.0  # its features searched by 1-NN


def test_the_identity_loss_trains_a_class_head_beside_the_pairs(tmp_path: Path) -> None:
    import torch.nn.functional as F

    from simnet.inference import SimNet

    data = make_tree(tmp_path / "data", per_class=20)
    identity = ["loss.identity_weight=1", "train.lr=0.1", "train.epochs=30"]
    identity += ["model.widths=[8,16,32,32]", "model.embedding_dim=32"]
    run = train(config_for(data, *identity), tmp_path / "run", progress=False)
    assert load_config(run / "config.yaml").model.classes == 4  # the data's classes
    net = SimNet.load(run)  # the head loads with the model
    files = sorted(data.glob("*/*.png"))
    names = sorted(p.name for p in data.iterdir())
    truth = torch.tensor([names.index(p.parent.name) for p in files])
    with torch.no_grad():
        logits = net.model.logits(torch.from_numpy(net.embed_files(files)[0]).float())
    # Trained 30 epochs: cross-entropy 0.00-0.34 and accuracy 0.86-1.00 over eight data
    # folders (the split is a hash of the path); at 20 epochs 0.19-0.60 and 0.68-0.93, which
    # failed once. A random head on the same embeddings: 2.9-4.1 and 0.25-0.50. A uniform
    # guess has a cross-entropy of log 4 = 1.39.
    assert F.cross_entropy(logits, truth) < 0.5 * math.log(4)
    assert (logits.argmax(1) == truth).float().mean() > 0.7


def test_the_identity_loss_adds_its_weighted_cross_entropy_to_the_step() -> None:
    import copy

    import torch.nn.functional as F

    identity = ["model.classes=4", "loss.identity_weight=0.5", "train.bf16=off"]  # exact sums
    config = load_config(None, [*SMALL, *identity])
    with_identity = step.build_parts(config, 10)
    without = step.build_parts(
        config.replace(loss={"identity_weight": 0.0}), 10, copy.deepcopy(with_identity.model)
    )
    x, labels = torch.rand(8, 3, 32, 32), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    with_identity.model.train()
    with torch.no_grad():
        expected = F.cross_entropy(with_identity.model.logits(with_identity.model(x)), labels)
    loss, _ = step.train_step(with_identity, x, labels, lam=1.0)
    plain, _ = step.train_step(without, x, labels, lam=1.0)
    assert loss == pytest.approx(plain + 0.5 * float(expected), rel=1e-4)


def _rewrite_checkpoint(run: Path, change) -> None:
    state = load_state(run)
    save_state(run, change(state))


def _old_layout(state: dict) -> dict:
    """A checkpoint as simnet wrote it before its contents were typed: the miner's random
    state alone under ``miner_rng``, and no ``within`` key after a whole epoch."""
    old = {k: v for k, v in state.items() if k not in ("miner", "within")}
    old["miner_rng"] = state["miner"].get("generator")
    return old


@pytest.mark.parametrize("strategy", ["opms", "random"])
def test_a_checkpoint_in_the_old_layout_resumes_exactly(tmp_path: Path, strategy: str) -> None:
    data = make_tree(tmp_path / "data", per_class=12)
    config = config_for(data, f"mining.strategy={strategy}")
    whole = train(config, tmp_path / "whole", progress=False)
    cut = train(config, tmp_path / "cut", progress=False, stop_after=1)
    assert load_state(cut)["miner"].get("generator") is not None  # random draws to restore
    _rewrite_checkpoint(cut, _old_layout)
    train(config, cut, resume=True, progress=False)
    a, b = weights(whole), weights(cut)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_a_checkpoint_of_another_structure_is_one_clear_refusal(tmp_path: Path) -> None:
    data = make_tree(tmp_path / "data", per_class=12)
    run = train(config_for(data), tmp_path / "run", progress=False, stop_after=1)
    _rewrite_checkpoint(run, lambda state: {k: v for k, v in state.items() if k != "model"})
    with pytest.raises(SimNetError, match="cannot resume from .*lacks 'model'"):
        train(config_for(data), run, resume=True, progress=False)
    other = train(config_for(data, "model.embedding_dim=4"), tmp_path / "other", progress=False)
    _rewrite_checkpoint(run, lambda state: {**state, "model": load_state(other)["model"]})
    with pytest.raises(SimNetError, match="cannot resume from .*checkpoint.pt"):
        train(config_for(data), run, resume=True, progress=False)


def test_training_leaves_the_given_config_as_it_was(tmp_path: Path) -> None:
    data = make_tree(tmp_path / "data", per_class=12)
    config = config_for(data, "train.epochs=1")
    config.data.source = str(tmp_path / "data" / ".." / "data")  # resolved by training
    before = config.to_dict()
    run = train(config, tmp_path / "run", progress=False)
    assert config.to_dict() == before
    assert load_config(run / "config.yaml").data.source == str(data.resolve())


def test_tensorboard_logs_hold_every_step_and_each_epochs_metrics(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    data = make_tree(tmp_path / "data", per_class=12)
    config = config_for(data, "train.epochs=2", "data.val_fraction=0.25")
    run = train(config, tmp_path / "r", progress=False)
    board = EventAccumulator(str(run / "tensorboard"))
    board.Reload()
    rows = [r.split(",") for r in (run / "metrics.csv").read_text().splitlines()[1:]]
    steps = board.Scalars("loss/step")
    assert [s.step for s in steps] == list(range(1, len(steps) + 1)) and len(steps) >= 2
    train_loss = board.Scalars("loss/train")
    assert [e.step for e in train_loss] == [1, 2]
    # TensorBoard keeps float32, the CSV 6 decimals
    assert np.allclose([e.value for e in train_loss], [float(r[3]) for r in rows], atol=2e-6)
    val = board.Scalars("loss/validation")
    assert np.allclose([e.value for e in val], [float(r[6]) for r in rows], atol=2e-6)
    assert [e.value for e in board.Scalars("mining/lambda")] == [float(r[1]) for r in rows]


def test_tensorboard_off_writes_nothing_and_on_without_it_names_the_extra(
    tmp_path: Path, monkeypatch
) -> None:
    data = make_tree(tmp_path / "data", per_class=12)
    run = train(
        config_for(data, "train.epochs=1", "train.tensorboard=off"), tmp_path / "r", progress=False
    )
    assert (run / "metrics.csv").exists() and not (run / "tensorboard").exists()
    monkeypatch.setitem(__import__("sys").modules, "tensorboard", None)
    with pytest.raises(SimNetError, match=r"pip install 'simnet\[tensorboard\]'"):
        train(config_for(data, "train.tensorboard=on"), tmp_path / "on", progress=False)
    assert not (tmp_path / "on").exists()
    run = train(config_for(data, "train.epochs=1"), tmp_path / "auto", progress=False)
    assert not (run / "tensorboard").exists()  # auto: not installed, not written
