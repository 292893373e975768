"""The training loop. It handles players, never model families.

One step updates every player once, in the task's order. For each player: zero its gradients,
run `accumulate` micro-batches (each loss divided by accumulate, so the gradient equals that of
the whole step batch), unscale, clip, take the optimizer step, then advance its schedule and EMA.
An optimizer that needs a closure (L-BFGS) gets one that re-evaluates the same micro-batches.
"""

import contextlib
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from genopt_cli.models.base import Task
from genopt_cli.optim import requires_closure, set_optimizer_mode
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
    needs_closure: bool = False

    def __post_init__(self) -> None:
        self.parameters = [p for p in self.module.parameters() if p.requires_grad]
        self.needs_closure = requires_closure(self.optimizer)
        set_optimizer_mode(self.optimizer, training=True)


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
        """Return each player's module, or its EMA copy where EMA is on."""
        return {p.name: p.ema.module if p.ema is not None else p.module for p in self.players}

    @contextlib.contextmanager
    def evaluation_weights(self):
        """Put each optimizer in eval mode for the block, then back in train mode.

        Schedule-free optimizers move the live weights to their average in eval mode. Other
        optimizers have no mode, so the block gets the weights unchanged.
        """
        for player in self.players:
            set_optimizer_mode(player.optimizer, training=False)
        try:
            yield
        finally:
            for player in self.players:
                set_optimizer_mode(player.optimizer, training=True)

    def _only_trainable(self, current: Player) -> None:
        if len(self.players) > 1:
            for player in self.players:
                player.module.requires_grad_(player is current)

    def _backward(self, player: Player, micro_batches, step: int, record: bool) -> torch.Tensor:
        """Accumulate the step's gradient; return the step's mean loss, detached."""
        # With one micro-batch the divisions by accumulate are skipped, because these small tensor
        # ops (one adds an autograd node) cost 1 to 3% of a 4 ms VAE step on a CPU.
        divide = self.accumulate > 1
        total = None
        for micro_batch in micro_batches:
            with autocast(self.precision, self.device):
                loss, metrics = self.task.loss(player.name, micro_batch, step)
            scaled = loss / self.accumulate if divide else loss
            if player.scaler is not None:
                scaled = player.scaler.scale(scaled)
            scaled.backward()
            part = loss.detach().float()
            part = part / self.accumulate if divide else part
            total = part if total is None else total + part
            if record:
                self._add(f"train/loss/{player.name}", part)
                for tag, value in metrics.items():
                    self._add(tag, value.float() / self.accumulate if divide else value.float())
        return total

    def _clip(self, player: Player, need_norm: bool) -> torch.Tensor | None:
        """Clip the gradients; return their total norm before clipping when clipped or asked."""
        grad_norm = None
        if player.clip_grad_norm is not None:
            grad_norm = torch.nn.utils.clip_grad_norm_(player.parameters, player.clip_grad_norm)
        elif need_norm:
            grads = [p.grad for p in player.parameters if p.grad is not None]
            grad_norm = torch.nn.utils.get_total_norm(grads)
        if player.clip_grad_value is not None:
            torch.nn.utils.clip_grad_value_(player.parameters, player.clip_grad_value)
        return grad_norm

    def _rng_state(self) -> tuple:
        cuda = torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None
        return torch.get_rng_state(), cuda

    def _set_rng_state(self, state: tuple) -> None:
        torch.set_rng_state(state[0])
        if state[1] is not None:
            torch.cuda.set_rng_state_all(state[1])

    def _closure(self, player: Player, micro_batches, step: int, first_loss, rng_state):
        """Return a closure for optimizer.step(closure) that re-evaluates the step's loss.

        Every evaluation restores the random state of the first one, so noise, dropout and
        sampled timesteps repeat and the line search evaluates one deterministic function. The
        first call returns the loss whose gradients the loop has already computed.
        """
        calls = 0

        def closure() -> torch.Tensor:
            nonlocal calls
            calls += 1
            if calls == 1:
                return first_loss
            self._set_rng_state(rng_state)
            player.optimizer.zero_grad(set_to_none=True)
            loss = self._backward(player, micro_batches, step, record=False)
            self._clip(player, need_norm=False)
            return loss

        return closure

    def _log_optimizer(self, player: Player, grad_norm) -> None:
        """Store the gradient norm and each group's lr: optim/lr/PLAYER[/GROUP]."""
        self._log_values[f"optim/grad_norm/{player.name}"] = grad_norm
        for index, group in enumerate(player.optimizer.param_groups):
            suffix = "" if index == 0 else f"/{group['name']}"
            self._log_values[f"optim/lr/{player.name}{suffix}"] = group["lr"]

    def _update(self, player: Player, micro_batches, step: int, log_now: bool) -> None:
        rng_state = self._rng_state() if player.needs_closure else None
        loss = self._backward(player, micro_batches, step, record=True)
        if player.scaler is not None:
            player.scaler.unscale_(player.optimizer)
        grad_norm = self._clip(player, need_norm=log_now)
        if log_now:
            self._log_optimizer(player, grad_norm)

        stepped = True
        if player.needs_closure:
            player.optimizer.step(self._closure(player, micro_batches, step, loss, rng_state))
        elif player.scaler is not None:
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
            self._update(player, micro_batches, step, log_now)
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
