"""The curriculum schedule of λ (SimNet, Algorithm 1)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LambdaSchedule:
    """λ for each epoch: ``min(lambda_max, start + step * (epoch + 1))``.

    Algorithm 1 starts from λ = 0 and adds ``step = 1 / numEpochs`` before each epoch,
    so the last epoch trains at λ = 1 unless capped by ``lambda_max`` (Table 2's knob).
    """

    epochs: int
    start: float = 0.0
    step: float | None = None  # None: 1 / epochs
    lambda_max: float = 1.0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if not 0.0 < self.lambda_max <= 1.0:
            raise ValueError(f"lambda_max must be in (0, 1], got {self.lambda_max}")

    def __call__(self, epoch: int) -> float:
        step = 1.0 / self.epochs if self.step is None else self.step
        return max(0.0, min(self.lambda_max, self.start + step * (epoch + 1)))
