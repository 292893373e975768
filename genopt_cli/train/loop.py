"""The training loop. It handles players, never model families.

One step updates every player in the task's order, each `task.updates_per_step` times (once by
default; update k reads slice k of the step's batch). One update of a player:

1. zero its gradients and run `accumulate` micro-batches, the consecutive slices of the update's
   batch. Each micro-batch's mean loss is weighted by its share of the update's items
   (`task.loss_weight`: examples, or target tokens for text), so the gradient equals that of the
   whole batch even when the slices hold different numbers of items;
2. unscale the gradients (fp16) once, compute their global norm once, and check the loss and that
   norm: a non-finite value is an fp16 overflow that the scaler skips, or a failure handled per
   `trainer.on_nonfinite` (stop, or skip the update);
3. clip (by norm, reusing the norm, then by value), take the optimizer step, and only after a
   step that happened advance the player's schedule and EMA.

With `task.simultaneous` every player's gradient is computed before any player steps, so all
gradients are taken at the same point. An optimizer that needs a closure (L-BFGS) gets one that
re-evaluates the same micro-batches.

Under data parallelism (`replicas`, with the players' DistributedDataParallel wrappers in
`task.train_modules`) each process runs the same updates on its shard. The gradient all-reduce
runs on the last micro-batch of a player's update only; the other micro-batches, and the
forward passes through the other players' networks (a GAN's generator in the discriminator's
update), run under no_sync. Micro-batch weights that can differ between processes (token
counts) are shared over them, so the averaged gradient is the mean over all items. After each
update the processes agree, in one small collective, on its finiteness and on stop requests, so
all of them skip or stop together.
"""

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from genopt_cli.models.base import Task
from genopt_cli.optim import requires_closure, set_optimizer_mode
from genopt_cli.train.distributed import Replicas
from genopt_cli.train.ema import EMA
from genopt_cli.train.precision import autocast

ON_NONFINITE = ("stop", "skip")

# Bits of the code that each process contributes to an update's agreement.
NOT_FINITE, LOSS_NOT_FINITE, STOP_REQUESTED = 1, 2, 4


class NonFiniteLossError(RuntimeError):
    """A loss or gradient became NaN or infinite and the run stops."""


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
    parameter_names: list[str] = field(default_factory=list)
    needs_closure: bool = False
    # Updates the scaler skipped (fp16 overflow) and updates skipped for a non-finite value.
    amp_skipped: int = 0
    nonfinite_skipped: int = 0
    skipped_in_a_row: int = 0

    def __post_init__(self) -> None:
        named = [(n, p) for n, p in self.module.named_parameters() if p.requires_grad]
        self.parameter_names = [n for n, _ in named]
        self.parameters = [p for _, p in named]
        self.needs_closure = requires_closure(self.optimizer)
        set_optimizer_mode(self.optimizer, training=True)

    def state_dict(self) -> dict:
        return {
            "amp_skipped": self.amp_skipped,
            "nonfinite_skipped": self.nonfinite_skipped,
            "skipped_in_a_row": self.skipped_in_a_row,
        }

    def load_state_dict(self, state: dict) -> None:
        self.amp_skipped = state["amp_skipped"]
        self.nonfinite_skipped = state["nonfinite_skipped"]
        self.skipped_in_a_row = state["skipped_in_a_row"]


def effective_adam_step(optimizer: torch.optim.Optimizer) -> float | None:
    """Geometric mean over all elements of lr / (sqrt(v_hat) + eps), for Adam's state.

    v_hat is the bias-corrected second moment. The geometric mean, not the arithmetic one:
    an element whose gradient is always zero has lr / eps (1e5 x lr at eps 1e-8), and a few of
    those would dominate an arithmetic mean. Returns None for other optimizers, and for
    optimizers that keep a second moment without Adam's per-parameter step (schedule-free).
    """
    total, count = 0.0, 0
    for group in optimizer.param_groups:
        beta2 = group.get("betas", (None, None))[1]
        for parameter in group["params"]:
            state = optimizer.state.get(parameter, {})
            if beta2 is None or "exp_avg_sq" not in state or "step" not in state:
                continue
            step = float(state["step"])
            v_hat = state["exp_avg_sq"] / (1.0 - beta2**step)
            total += torch.log(group["lr"] / (v_hat.sqrt() + group["eps"])).sum().item()
            count += parameter.numel()
    return math.exp(total / count) if count else None


class Trainer:
    def __init__(
        self,
        task: Task,
        players: list[Player],
        batches,
        accumulate: int,
        precision: str,
        device: torch.device,
        on_nonfinite: str = "stop",
        max_skips_in_a_row: int = 10,
        replicas: Replicas | None = None,
    ):
        self.task = task
        self.players = players
        self.batches = batches
        self.accumulate = accumulate
        self.precision = precision
        self.device = device
        self.on_nonfinite = on_nonfinite
        self.max_skips_in_a_row = max_skips_in_a_row
        self.updates = {p.name: task.updates_per_step.get(p.name, 1) for p in players}
        self.slices = max(self.updates.values())
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}
        self._log_values: dict = {}
        self._unit_scale = torch.ones((), device=device)
        self.replicas = replicas
        # Ranks whose own loss was non-finite at the last update with a non-finite value.
        self._nonfinite_ranks: list[int] = []
        # Under data parallelism: whether this process has a stop request (set by the run),
        # and whether any process had one at the last update's agreement.
        self.stop_requested: Callable[[], bool] = lambda: False
        self.stop_agreed = False

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

    def _sync_context(self, player: Player, last: bool) -> contextlib.ExitStack:
        """Under data parallelism, enter no_sync for the other players' wrappers, and for the
        player's own unless this is the update's last micro-batch."""
        stack = contextlib.ExitStack()
        for name, wrapper in self.task.train_modules.items():
            if name != player.name or not last:
                stack.enter_context(wrapper.no_sync())
        return stack

    def _backward(self, player: Player, micro_batches, step: int, record: bool) -> torch.Tensor:
        """Accumulate the update's gradient; return the update's mean loss, detached."""
        weights = [self.task.loss_weight(micro_batch) for micro_batch in micro_batches]
        shared = self.replicas is not None and isinstance(weights[0], torch.Tensor)
        if len(micro_batches) == 1 and not shared:
            return self._backward_whole(player, micro_batches[0], step, record)
        total_weight = sum(weights)
        if shared:
            # DDP averages the processes' gradients, so each process divides by the mean of
            # their item counts: the average is then the gradient of the mean over all items.
            total_weight = self.replicas.mean(total_weight)
        total = torch.zeros((), device=self.device)
        means: dict[str, torch.Tensor] = {}
        last = len(micro_batches) - 1
        for index, (micro_batch, weight) in enumerate(zip(micro_batches, weights, strict=True)):
            share = weight / total_weight
            with self._sync_context(player, index == last):
                with autocast(self.precision, self.device):
                    loss, metrics = self.task.loss(player.name, micro_batch, step)
                scaled = loss * share
                if player.scaler is not None:
                    scaled = player.scaler.scale(scaled)
                scaled.backward()
            total += loss.detach().float() * share
            for tag, value in metrics.items():
                means[tag] = means.get(tag, 0.0) + value.float() * share
        if record:
            means[f"train/loss/{player.name}"] = total
            for tag, value in means.items():
                self._add(tag, value)
        return total

    def _backward_whole(self, player: Player, batch, step: int, record: bool) -> torch.Tensor:
        """Run _backward for a single micro-batch, without weights (the default hot path)."""
        with self._sync_context(player, last=True):
            with autocast(self.precision, self.device):
                loss, metrics = self.task.loss(player.name, batch, step)
            (player.scaler.scale(loss) if player.scaler is not None else loss).backward()
        total = loss.detach().float()
        if record:
            self._add(f"train/loss/{player.name}", total)
            for tag, value in metrics.items():
                self._add(tag, value.float())
        return total

    def _clip(self, player: Player, grad_norm: torch.Tensor | None) -> None:
        """Clip by norm (with the norm already computed whenever clip_grad_norm is set), then
        by value."""
        if player.clip_grad_norm is not None:
            torch.nn.utils.clip_grads_with_norm_(
                player.parameters, player.clip_grad_norm, grad_norm
            )
        if player.clip_grad_value is not None:
            torch.nn.utils.clip_grad_value_(player.parameters, player.clip_grad_value)

    def _grad_norm(self, player: Player) -> torch.Tensor:
        """Return the global L2 norm of the player's gradients, computed every update.

        One _foreach_norm over the list: a player's parameters share one device and, the loop
        keeps weights in float32, one dtype, so torch's get_total_norm grouping is not needed
        (it costs more than the norm itself on a small model).
        """
        grads = [p.grad for p in player.parameters if p.grad is not None]
        if not grads:
            return torch.zeros((), device=self.device)
        return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))

    def _all_finite(self, player: Player, loss: torch.Tensor) -> bool:
        """Check the loss and every gradient element for NaN and infinity, without a norm.

        torch's fused check of the gradient scaler, with a scale of 1, is one pass over the
        gradients. On a small model it costs about half of a norm, so it runs on updates that
        need no norm: no clipping, no fp16, no logging.
        """
        grads = [p.grad for p in player.parameters if p.grad is not None]
        found = torch.zeros(1, device=self.device)
        if grads:
            torch._amp_foreach_non_finite_check_and_unscale_(grads, found, self._unit_scale)
        return math.isfinite(loss.item()) and not found.item()

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
            self._clip(player, self._grad_norm(player))
            return loss

        return closure

    def _first_nonfinite(self, player: Player) -> str:
        for name, parameter in zip(player.parameter_names, player.parameters, strict=True):
            if parameter.grad is not None and not torch.isfinite(parameter.grad).all():
                return name
        return "none (the gradients are finite)"

    def _nonfinite(self, player: Player, step: int, loss: torch.Tensor) -> None:
        """Stop with a message, or count a skipped update, per `on_nonfinite`."""
        player.nonfinite_skipped += 1
        player.skipped_in_a_row += 1
        if self._nonfinite_ranks:
            ranks = ", ".join(map(str, self._nonfinite_ranks))
            loss_text = f"loss non-finite on rank {ranks}"
        else:
            loss_text = f"loss {loss.item()}"
        where = (
            f"at step {step}, player {player.name}: {loss_text}, first parameter with a "
            f"non-finite gradient: {self._first_nonfinite(player)}"
        )
        fixes = (
            "Lower optimizer.lr, turn on clipping (trainer.clip_grad_norm=1.0), or use "
            "trainer.precision=bf16 instead of fp16"
        )
        if self.on_nonfinite == "stop":
            raise NonFiniteLossError(
                f"non-finite value {where}. {fixes}; trainer.on_nonfinite=skip skips such updates."
            )
        if player.skipped_in_a_row >= self.max_skips_in_a_row:
            raise NonFiniteLossError(
                f"{player.skipped_in_a_row} updates in a row skipped for non-finite values, the "
                f"last {where}. {fixes}."
            )

    def _gradients(self, player: Player, micro_batches, step: int, log_now: bool):
        """Compute, unscale and check the update's gradient; return (loss, norm, finite)."""
        self._only_trainable(player)
        player.optimizer.zero_grad(set_to_none=True)
        rng_state = self._rng_state() if player.needs_closure else None
        loss = self._backward(player, micro_batches, step, record=True)
        if player.scaler is not None:
            player.scaler.unscale_(player.optimizer)
        if log_now or player.clip_grad_norm is not None or player.scaler is not None:
            grad_norm = self._grad_norm(player)
            # loss + norm is finite when both are (short of a sum above float32's 3e38), and
            # NaN or infinite when either is: one check and one device sync.
            finite = bool(torch.isfinite(loss + grad_norm))
        else:
            grad_norm = None
            finite = self._all_finite(player, loss)
        if self.replicas is not None:
            finite = self._agree(finite, loss)
        if log_now:
            self._log_values[f"optim/grad_norm/{player.name}"] = grad_norm
            for index, group in enumerate(player.optimizer.param_groups):
                suffix = "" if index == 0 else f"/{group['name']}"
                self._log_values[f"optim/lr/{player.name}{suffix}"] = group["lr"]
        return loss, grad_norm, finite, rng_state

    def _agree(self, finite: bool, loss: torch.Tensor) -> bool:
        """Share each process's verdict on the update and its stop request in one collective;
        return whether every process found the update finite.

        Remember the ranks whose own loss was not finite, for the message and for the fp16
        overflow test (an overflow has finite losses everywhere), and whether any process
        requested a stop (`stop_agreed`, the same on every rank after the step).
        """
        code = 0
        if not finite:
            code |= NOT_FINITE
            if not bool(torch.isfinite(loss)):
                code |= LOSS_NOT_FINITE
        if self.stop_requested():
            code |= STOP_REQUESTED
        codes = self.replicas.gather_codes(code)
        self._nonfinite_ranks = [rank for rank, c in enumerate(codes) if c & LOSS_NOT_FINITE]
        self.stop_agreed = any(c & STOP_REQUESTED for c in codes)
        return not any(c & NOT_FINITE for c in codes)

    def _apply(self, player: Player, micro_batches, step: int, log_now: bool, gradients) -> None:
        """Clip, step, then advance the schedule and EMA, unless the update is skipped."""
        loss, grad_norm, finite, rng_state = gradients
        loss_finite = (
            bool(torch.isfinite(loss)) if self.replicas is None else not self._nonfinite_ranks
        )
        overflow = not finite and player.scaler is not None and loss_finite
        if not finite and not overflow:
            self._nonfinite(player, step, loss)
            player.optimizer.zero_grad(set_to_none=True)
            if player.scaler is not None:
                player.scaler.update()  # closes the unscale_ of this update
            return
        before = [p.detach().clone() for p in player.parameters] if log_now else None
        if finite:
            self._clip(player, grad_norm)
        if player.needs_closure:
            player.optimizer.step(self._closure(player, micro_batches, step, loss, rng_state))
        elif player.scaler is not None:
            # After an overflow the scaler skips optimizer.step and lowers its scale.
            player.scaler.step(player.optimizer)
            player.scaler.update()
        else:
            player.optimizer.step()
        if overflow:
            player.amp_skipped += 1
            player.skipped_in_a_row += 1
            if player.skipped_in_a_row >= self.max_skips_in_a_row:
                raise NonFiniteLossError(
                    f"{player.skipped_in_a_row} updates in a row of player {player.name} "
                    f"overflowed in fp16 up to step {step}, down to gradient scale "
                    f"{player.scaler.get_scale():g}. Use trainer.precision=bf16 or fp32, or "
                    "lower optimizer.lr."
                )
            return
        player.skipped_in_a_row = 0
        player.schedule.step()
        decay = player.ema.update() if player.ema is not None else None
        if log_now:
            self._log_update(player, before, decay)

    def _log_update(self, player: Player, before, decay) -> None:
        """Store the player's parameter norm, the update's relative size and the EMA decay."""
        name = player.name
        values = self._log_values
        params = [p.detach() for p in player.parameters]
        param_norm = torch.nn.utils.get_total_norm(params)
        update_norm = torch.nn.utils.get_total_norm(torch._foreach_sub(params, before))
        values[f"optim/param_norm/{name}"] = param_norm
        values[f"optim/update_ratio/{name}"] = update_norm / param_norm.clamp_min(1e-12)
        adam_step = effective_adam_step(player.optimizer)
        if adam_step is not None:
            values[f"optim/adam_step/{name}"] = adam_step
        if decay is not None:
            values["ema/decay"] = decay

    def _micro_batches(self, batch_slice: torch.Tensor):
        return batch_slice.chunk(self.accumulate) if self.accumulate > 1 else (batch_slice,)

    def train_step(self, step: int, log_now: bool) -> None:
        batch = self.batches.batch(step).to(self.device, non_blocking=True)
        slices = batch.chunk(self.slices) if self.slices > 1 else (batch,)
        self._log_values = {}
        if self.task.simultaneous:
            micro_batches = self._micro_batches(slices[0])
            gradients = [self._gradients(p, micro_batches, step, log_now) for p in self.players]
            for player, player_gradients in zip(self.players, gradients, strict=True):
                self._apply(player, micro_batches, step, log_now, player_gradients)
        else:
            for player in self.players:
                for k in range(self.updates[player.name]):
                    micro_batches = self._micro_batches(slices[k])
                    gradients = self._gradients(player, micro_batches, step, log_now)
                    self._apply(player, micro_batches, step, log_now, gradients)

    def _add(self, tag: str, value: torch.Tensor) -> None:
        """Add one update's mean of `tag`; collect() divides by the number of updates."""
        if tag in self._sums:
            self._sums[tag] += value
            self._counts[tag] += 1
        else:
            self._sums[tag] = value.clone()
            self._counts[tag] = 1

    def _suffix(self, player: Player) -> str:
        return "" if len(self.players) == 1 else f"/{player.name}"

    def collect(self, step: int) -> dict[str, float]:
        """Read the metrics since the last call back from the device: means over the updates
        (and over the processes, under data parallelism)."""
        tags = list(self._sums)
        means = [(self._sums[tag] / self._counts[tag]).float() for tag in tags]
        if self.replicas is not None and means:
            means = list(self.replicas.mean(torch.stack([m.to(self.device) for m in means])))
        values = {tag: mean.item() for tag, mean in zip(tags, means, strict=True)}
        for tag, value in self._log_values.items():
            values[tag] = float(value)
        if len(self.players) == 1:
            values["train/loss"] = values.pop(f"train/loss/{self.players[0].name}")
        for player in self.players:
            if player.scaler is not None:
                values[f"amp/scale{self._suffix(player)}"] = player.scaler.get_scale()
                values[f"amp/skipped_steps{self._suffix(player)}"] = player.amp_skipped
            if self.on_nonfinite == "skip":
                values[f"train/nonfinite_skips{self._suffix(player)}"] = player.nonfinite_skipped
        self._sums.clear()
        self._counts.clear()
        return values
