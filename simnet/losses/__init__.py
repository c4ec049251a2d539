"""Metric-learning losses; they take embeddings and mined pairs, and never import models."""

from simnet.losses.contrastive_loss import ContrastiveLoss, contrastive_pair_losses
from simnet.losses.group_loss import GroupLoss

__all__ = ["ContrastiveLoss", "GroupLoss", "contrastive_pair_losses"]
