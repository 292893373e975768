"""The training loop. It knows players, never model families.

One step updates every player once, in the task's order. For each player: zero its gradients,
run `accumulate` micro-batches (each loss divided by accumulate, so the gradient equals that of
the whole step batch), unscale, clip, take the optimizer step, then advance its schedule and EMA.
"""

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from genopt_cli.models.base import Task
from genopt_cli.train.ema import EMA
from genopt_cli.train.precision import autocast


class NonFiniteLossError(RuntimeError):
    """The loss of a player became NaN or infinite."""


@dataclass
class Player:
    """A set of parameters with its own optimizer, schedule, scaler, clipping and EMA."""

    name: str
    module: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    clip_grad_norm: float | None
    clip_grad_value: float | None
    scaler: torch.amp.GradScaler | None = None
    ema: EMA | None = None
    parameters: list[torch.Tensor] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.parameters = [p for p in self.module.parameters() if p.requires_grad]


class Trainer:
    def __init__(
        self,
        task: Task,
        players: list[Player],
        batches,
        accumulate: int,
        precision: str,
        device: torch.device,
    ):
        self.task = task
        self.players = players
        self.batches = batches
        self.accumulate = accumulate
        self.precision = precision
        self.device = device
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0

    def sampling_modules(self) -> dict[str, nn.Module]:
        """Each player's module, replaced by its EMA copy where EMA is on."""
        return {p.name: p.ema.module if p.ema is not None else p.module for p in self.players}

    def _only_trainable(self, current: Player) -> None:
        if len(self.players) > 1:
            for player in self.players:
                player.module.requires_grad_(player is current)

    def _backward(self, player: Player, micro_batches, step: int) -> None:
        for micro_batch in micro_batches:
            with autocast(self.precision, self.device):
                loss, metrics = self.task.loss(player.name, micro_batch, step)
            scaled = loss / self.accumulate
            if player.scaler is not None:
                scaled = player.scaler.scale(scaled)
            scaled.backward()
            self._add(f"train/loss/{player.name}", loss.detach().float() / self.accumulate)
            for tag, value in metrics.items():
                self._add(tag, value.float() / self.accumulate)

    def _update(self, player: Player, step: int, log_now: bool) -> None:
        if player.scaler is not None:
            player.scaler.unscale_(player.optimizer)
        grad_norm = None
        if player.clip_grad_norm is not None:
            grad_norm = torch.nn.utils.clip_grad_norm_(player.parameters, player.clip_grad_norm)
        elif log_now:
            grads = [p.grad for p in player.parameters if p.grad is not None]
            grad_norm = torch.nn.utils.get_total_norm(grads)
        if player.clip_grad_value is not None:
            torch.nn.utils.clip_grad_value_(player.parameters, player.clip_grad_value)
        if log_now:
            self._log_values[f"optim/grad_norm/{player.name}"] = grad_norm
            self._log_values[f"optim/lr/{player.name}"] = player.optimizer.param_groups[0]["lr"]

        stepped = True
        if player.scaler is not None:
            scale_before = player.scaler.get_scale()
            player.scaler.step(player.optimizer)
            player.scaler.update()
            stepped = player.scaler.get_scale() >= scale_before
        else:
            player.optimizer.step()
        if stepped:
            player.schedule.step()
            if player.ema is not None:
                decay = player.ema.update()
                if log_now:
                    self._log_values["ema/decay"] = decay

    def train_step(self, step: int, log_now: bool) -> None:
        batch = self.batches.batch(step).to(self.device, non_blocking=True)
        micro_batches = batch.chunk(self.accumulate)
        self._log_values: dict = {}
        for player in self.players:
            self._only_trainable(player)
            player.optimizer.zero_grad(set_to_none=True)
            self._backward(player, micro_batches, step)
            self._update(player, step, log_now)
        self._count += 1

    def _add(self, tag: str, value: torch.Tensor) -> None:
        if tag in self._sums:
            self._sums[tag] += value
        else:
            self._sums[tag] = value.clone()

    def collect(self, step: int) -> dict[str, float]:
        """Read the metrics since the last call back from the device: means over the steps."""
        values = {tag: (total / self._count).item() for tag, total in self._sums.items()}
        for tag, value in self._log_values.items():
            values[tag] = float(value)
        if len(self.players) == 1:
            values["train/loss"] = values.pop(f"train/loss/{self.players[0].name}")
        for tag, value in values.items():
            if tag.startswith("train/loss") and not math.isfinite(value):
                raise NonFiniteLossError(
                    f"{tag} is {value} at step {step}. Lower optimizer.lr, turn on clipping "
                    "(trainer.clip_grad_norm=1.0), or use trainer.precision=bf16 instead of fp16."
                )
        if self.players[0].scaler is not None:
            values["amp/scale"] = self.players[0].scaler.get_scale()
        self._sums.clear()
        self._count = 0
        return values
