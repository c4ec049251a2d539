"""SimNet's parts in a training loop of one's own: a plain torchvision ResNet-18 learns to
tell the shapes apart with the class-balanced sampler, OPMS on the λ curriculum and the
contrastive loss, as a user of pytorch-metric-learning would wire them (README)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

import simnet
from tests.conftest import draw

KINDS = ["circle", "square", "cross", "stripes"]


def shapes(per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    images = [draw(kind, rng) for kind in KINDS for _ in range(per_class)]
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
    return x, torch.arange(len(KINDS)).repeat_interleave(per_class)


def separation(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean distance between held-out images of one class over that between classes: the
    lower, the better the embedding tells the classes apart."""
    model.eval()
    with torch.no_grad():
        e = F.normalize(model(images), dim=1)
    model.train()
    d = torch.cdist(e, e)
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~torch.eye(len(labels), dtype=torch.bool)
    return float(d[same & off_diagonal].mean() / d[~same].mean())


def test_opms_and_the_contrastive_loss_train_a_plain_torchvision_model() -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=16)  # the head is the embedding
    train, test = shapes(12, seed=0), shapes(10, seed=1)
    sampler = simnet.ClassBalancedBatchSampler(train[1].numpy(), batch_size=16, per_class=4)
    miner = simnet.OPMS(margin=1.0)
    loss_fn = simnet.ContrastiveLoss(margin=1.0)
    schedule = simnet.LambdaSchedule(epochs=6)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    before = separation(model, *test)
    losses = []
    for epoch in range(6):
        sampler.set_epoch(epoch)
        for batch in sampler:
            x, y = train[0][batch], train[1][batch]
            embeddings = F.normalize(model(x), dim=1)
            pairs = miner.mine(embeddings, y, schedule(epoch))
            loss = loss_fn(embeddings, pairs)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
    assert np.mean(losses[-4:]) < 0.5 * np.mean(losses[:4])
    after = separation(model, *test)
    assert after < 0.7 * before
