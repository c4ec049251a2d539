"""``simnet tune``: hyper-parameter search by k-fold cross-validation on the training split.

Optuna's TPE sampler proposes a learning rate, margin, λ_max, embedding size and batch
composition (images per class); each proposal trains one model per fold on the other folds
and scores 1-NN accuracy of the held-out fold against them; the trial's value is the mean.
The test split is never read: only the training split's images reach the folds. The study
lives in ``OUT/study.db`` (SQLite), so a stopped search resumes where it was, and the best
trial's full configuration is written to ``OUT/best.yaml``, ready for
``simnet train --config OUT/best.yaml``.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from simnet.config import Config, load_config
from simnet.data.defaults import resolve_data
from simnet.data.loading import load_data
from simnet.errors import SimNetError
from simnet.extras import require

log = logging.getLogger(__name__)

STUDY = "simnet-tune"


def suggest(trial: Any, batch_size: int) -> list[str]:
    """One proposal as config overrides."""
    per_class = [m for m in (5, 10, 25, 50) if 2 * m <= batch_size] or [batch_size // 2]
    return [
        f"train.lr={trial.suggest_float('train.lr', 0.05, 1.0, log=True)}",
        f"loss.margin={trial.suggest_float('loss.margin', 0.6, 1.4)}",
        f"mining.lambda_max={trial.suggest_float('mining.lambda_max', 0.2, 1.0)}",
        f"model.embedding_dim={trial.suggest_categorical('model.embedding_dim', [64, 128, 256])}",
        f"train.per_class={trial.suggest_categorical('train.per_class', per_class)}",
    ]


def folds(labels: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Deterministic stratified k-fold splits: (training indices, held-out indices)."""
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(labels)
    if k < 2 or counts[counts > 0].min() < k:
        raise SimNetError(f"{k}-fold cross-validation needs at least {k} images in every class")
    split = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(split.split(np.zeros(len(labels)), labels))


def fold_score(config: Config, train_images: Any, held: Any, run: Path) -> float:
    """Trains on ``train_images`` and returns the 1-NN accuracy of ``held`` against them."""
    from simnet.eval.metrics import knn_accuracy
    from simnet.inference import SimNet
    from simnet.train import train

    train(config, run, progress=False, train_images=train_images)
    net = SimNet.load(run)
    reference = net.embed_array(train_images.images, config.eval.batch_size)
    queries = net.embed_array(held.images, config.eval.batch_size)
    return knn_accuracy(reference, train_images.labels, queries, held.labels, [1])[1]


def _check_counts(trials: int, k: int) -> None:
    if not 1 <= trials <= 100_000:
        raise SimNetError(f"trials must be 1 to 100000, not {trials}")
    if not 2 <= k <= 100:
        raise SimNetError(f"k-fold cross-validation needs 2 to 100 folds, not {k}")


def tune(
    out: str | Path,
    trials: int = 20,
    k: int = 5,
    overrides: list[str] | None = None,
    preset: str | None = None,
    seed: int = 0,
    progress: bool = False,
) -> tuple[Path, dict[str, Any], float]:
    """Runs (or resumes) the study until it holds ``trials`` finished trials; ``progress``
    shows a progress bar over them.

    Returns:
        The best configuration file, the best parameters and their mean fold accuracy.
    """
    require("tune", "tuning")
    import optuna

    _check_counts(trials, k)
    out = Path(out)
    base = list(overrides or [])
    config = load_config(None, base, preset=preset)
    if config.model.views:
        raise SimNetError("simnet tune takes single-image data sets (not design libraries)")
    path = resolve_data(config.data.source, config.data.cache_dir).resolve()
    base.append(f"data.source={path}")
    training = load_data(path, config.data, config.model.views).train  # never the test split
    splits = folds(training.labels, k, seed)
    out.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=STUDY,
        storage=f"sqlite:///{(out / 'study.db').resolve()}",
        load_if_exists=True,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
    )

    def objective(trial: optuna.Trial) -> float:
        proposal = load_config(None, [*base, *suggest(trial, config.train.batch_size)], preset)
        scores = []
        for i, (fit, held) in enumerate(splits):
            run = out / "trials" / f"{trial.number:04d}" / f"fold-{i}"
            shutil.rmtree(run, ignore_errors=True)  # a trial cut short starts its fold again
            score = fold_score(proposal, training.subset(fit), training.subset(held), run)
            scores.append(score)
            shutil.rmtree(run, ignore_errors=True)
            log.info("trial %d fold %d: 1-NN accuracy %.4f", trial.number, i, score)
        return float(np.mean(scores))

    done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    if done < trials:
        with tqdm(total=trials, initial=done, desc="trials", disable=not progress) as bar:
            study.optimize(objective, n_trials=trials - done, callbacks=[lambda *_: bar.update()])
    best = study.best_trial
    assert best.value is not None  # a complete trial has its value
    best_config = load_config(None, [*base, *[f"{k}={v}" for k, v in best.params.items()]], preset)
    target = out / "best.yaml"
    best_config.save(target)
    return target, dict(best.params), float(best.value)


__all__ = ["folds", "tune"]
