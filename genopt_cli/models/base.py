"""The task interface: a model family in the form the training loop uses.

A task owns one or more players (named modules, each with its own optimizer), computes the loss
of one player on a micro-batch, draws samples and evaluates. The loop never looks at the family.
"""

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import nn

from genopt_cli.data.base import Dataset
from genopt_cli.models.recompute import enable_recompute


class Task(ABC):
    """One model family. Subclasses set `players` (in update order) and `data_kind`."""

    data_kind: str = "images"
    # Names of the players in update order; the keys of `players` after __init__.
    player_names: tuple[str, ...] = ("model",)
    # Name of the player whose weights the EMA follows, and which sampling uses.
    ema_player: str = "model"
    # Whether every player module has layers() (input to output), for layer-wise lr decay.
    has_layers: bool = False
    # Whether the networks have Recomputable blocks for trainer.activation_checkpointing.
    recomputable: bool = False
    # Name of the metric a sweep minimises; it must be a key that evaluate() returns.
    target_metric: str = "val/loss"

    # Whether every player's gradient is taken at the same point before any player updates
    # (simultaneous gradient descent); otherwise each player sees the others' latest weights.
    simultaneous: bool = False

    # Samples that quality() scores (trainer.eval_samples); None turns the quality metrics off.
    eval_samples: int | None = None

    def __init__(self) -> None:
        self.players: dict[str, nn.Module] = {}
        # Updates per step of each player, such as a GAN's n_critic; a player absent here
        # updates once. Update k of a player reads slice k of the step's batch.
        self.updates_per_step: dict[str, int] = {}
        # Gradient scalers of the players that have one (fp16), set by the run. A loss that
        # differentiates through its inputs, such as a gradient penalty, scales by them.
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        # The modules a training loss calls, by player, where they are not the players
        # themselves: their DistributedDataParallel wrappers under data parallelism.
        self.train_modules: dict[str, nn.Module] = {}

    def trained(self, player: str) -> nn.Module:
        """Return the module that `loss` calls for `player` (sampling and evaluation call the
        players themselves)."""
        module = self.train_modules.get(player)
        return self.players[player] if module is None else module

    @classmethod
    def build(cls, cfg: DictConfig, dataset: Dataset) -> "Task":
        """Create the task from `model.*`; a family may pick a subclass that fits the data."""
        return cls(cfg, dataset)

    @classmethod
    def data_kinds(cls) -> tuple[str, ...]:
        """Return the kinds of data ('images', 'text', 'points') that the family trains on."""
        return (cls.data_kind,)

    @classmethod
    def config_problems(cls, cfg: DictConfig) -> list[str]:
        """Return the problems of the family's `model.*` values in the composed config `cfg`."""
        return []

    @abstractmethod
    def make_batches(self, dataset: Dataset, step_size: int, seed: int):
        """Return an object whose batch(step) gives the `step_size` examples of that step."""

    @abstractmethod
    def loss(
        self, player: str, batch: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return the mean loss of `player` on a micro-batch and detached metrics to log."""

    def loss_weight(self, batch: torch.Tensor) -> int | torch.Tensor:
        """Return how many items `loss` averages over on this micro-batch: its examples here.

        The loop weights each micro-batch's mean loss by its share of the update's items, so
        the update's gradient is that of the mean over all its items.
        """
        return len(batch)

    @abstractmethod
    def sample(self, modules: Mapping[str, nn.Module], n: int) -> torch.Tensor | list[str]:
        """Draw `n` samples with the given modules (the EMA copies where EMA is on)."""

    @abstractmethod
    def save_samples(self, samples, directory: Path, stem: str) -> Path:
        """Write samples to `directory` as STEM.png or STEM.txt and return the path."""

    @abstractmethod
    def evaluate(self, modules: Mapping[str, nn.Module], dataset: Dataset) -> dict[str, float]:
        """Return validation metrics, keyed like 'val/loss'."""

    def quality(self, modules: Mapping[str, nn.Module], dataset: Dataset) -> dict[str, float]:
        """Return sample-quality metrics keyed like 'eval/...'; {} where the family has none."""
        return {}

    def loggable_samples(self, samples) -> dict:
        """Return {'image': CHW tensor in [0, 1]} or {'text': str} for TensorBoard."""
        return {}

    def enable_activation_checkpointing(self) -> None:
        for module in self.players.values():
            enable_recompute(module)

    def to(self, device: torch.device) -> "Task":
        for module in self.players.values():
            module.to(device)
        self.device = device
        return self
