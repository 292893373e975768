"""Settings and Trace: the input and the output of every lab method."""

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class Settings:
    """A method's knobs. None means the method's default for the problem (its docstring gives it).

    `steps` counts iterations; for the stochastic methods it counts epochs (passes over the data).
    """

    steps: int = 100
    lr: float | None = None
    momentum: float | None = None
    batch: int | None = None
    penalty: float | None = None
    seed: int = 0


@dataclass
class Trace:
    """The iterates x_0 .. x_T of one run, and method-specific extras (named in its docstring)."""

    points: list[Tensor] = field(default_factory=list)
    extras: dict = field(default_factory=dict)

    def record(self, x: Tensor) -> None:
        self.points.append(x.detach().clone())

    def stacked(self) -> Tensor:
        return torch.stack(self.points)
