"""Metric-learning losses; they take embeddings and mined pairs, and never import models."""

from simnet.losses.contrastive_loss import ContrastiveLoss, contrastive_pair_losses

__all__ = ["ContrastiveLoss", "contrastive_pair_losses"]
