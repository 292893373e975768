"""The learning-rate range test: raise the lr exponentially over a short run and watch the loss.

The run is built with the same functions as `genopt train` (data, task, players, Trainer); only
the ramped player's schedule is replaced. Following Smith (2017), "Cyclical Learning Rates for
Training Neural Networks", section 3.3, the loss is recorded at each lr and the test stops once
the loss diverges. The suggested lr is where the smoothed loss falls fastest against log lr,
before its lowest point. On the VAE recipe, the other common rule (the lr at the lowest loss
divided by 10) suggested 8 times the best lr of a sweep. The VAE's loss reaches a plateau early
and the smoothing lags, so its lowest point lies far right. The steepest point was 2.4 times
below the best swept lr (docs/lr-find.md).
"""

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig

from genopt_cli.data import build_dataset
from genopt_cli.models import build_task
from genopt_cli.train.loop import NonFiniteLossError, Trainer
from genopt_cli.train.run import build_players, resolve_device, seed_everything

log = logging.getLogger(__name__)

# Smoothing of the recorded loss: an exponential moving average with bias correction.
SMOOTHING = 0.9
# The test stops when the smoothed loss exceeds DIVERGE_FACTOR times its lowest value.
DIVERGE_FACTOR = 4.0
SUGGESTION_RULE = (
    "the lr where the smoothed loss falls fastest against log(lr), before its lowest point "
    f"(smoothing {SMOOTHING}; the test stops once the smoothed loss exceeds "
    f"{DIVERGE_FACTOR:g} times its lowest value or is not finite)"
)


@dataclass
class RangeTest:
    """The curve of one player's range test and the lr it suggests."""

    player: str
    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    stop_reason: str = "reached the maximum lr"

    @property
    def lowest(self) -> int | None:
        """Index of the lowest smoothed loss."""
        if not self.smoothed:
            return None
        return min(range(len(self.smoothed)), key=self.smoothed.__getitem__)

    @property
    def suggested_lr(self) -> float | None:
        """The lr of steepest descent of the smoothed loss before its lowest point."""
        return steepest_descent_lr(self.lrs, self.smoothed)


def steepest_descent_lr(lrs: list[float], losses: list[float]) -> float | None:
    """Return the lr where d loss / d log(lr), by central differences, is most negative.

    Only points before the lowest loss count; None when fewer than three points precede it.
    """
    if len(losses) < 3:
        return None
    lowest = min(range(len(losses)), key=losses.__getitem__)
    slopes = {
        k: (losses[k + 1] - losses[k - 1]) / (math.log(lrs[k + 1]) - math.log(lrs[k - 1]))
        for k in range(1, min(lowest + 1, len(losses) - 1))
    }
    if not slopes:
        return None
    return lrs[min(slopes, key=slopes.__getitem__)]


def exponential_lrs(min_lr: float, max_lr: float, steps: int) -> list[float]:
    """Return min_lr x (max_lr / min_lr)^(t / (steps - 1)) for t = 0 .. steps - 1."""
    ratio = max_lr / min_lr
    return [min_lr * ratio ** (t / (steps - 1)) for t in range(steps)]


def smooth(values: list[float], beta: float = SMOOTHING) -> list[float]:
    """Return the bias-corrected exponential moving average after each value."""
    average, out = 0.0, []
    for t, value in enumerate(values, start=1):
        average = beta * average + (1 - beta) * value
        out.append(average / (1 - beta**t))
    return out


def range_test(
    cfg: DictConfig, launch_dir: Path, player: str, min_lr: float, max_lr: float, steps: int
) -> RangeTest:
    """Ramp `player`'s lr from min_lr to max_lr over `steps` steps; others keep their schedule.

    Every parameter group of the player is scaled alike, so layer-wise or per-group lr ratios
    stay as configured and the first group's lr follows the ramp exactly.
    """
    seed_everything(cfg.trainer.seed)
    device = resolve_device(cfg.trainer.device)
    dataset = build_dataset(cfg.data, launch_dir)
    task = build_task(cfg.model, dataset).to(device)
    players = build_players(cfg, task, device)
    ramped = next(p for p in players if p.name == player)
    lrs = exponential_lrs(min_lr, max_lr, steps)
    base_lr = ramped.optimizer.param_groups[0]["initial_lr"]
    ramped.schedule = torch.optim.lr_scheduler.LambdaLR(
        ramped.optimizer, lambda t: lrs[min(t, steps - 1)] / base_lr
    )
    batches = task.make_batches(
        dataset, cfg.data.batch_size * cfg.trainer.accumulate, cfg.trainer.seed
    )
    trainer = Trainer(task, players, batches, cfg.trainer.accumulate, cfg.trainer.precision, device)
    loss_tag = "train/loss" if len(players) == 1 else f"train/loss/{player}"

    result = RangeTest(player)
    for step in range(steps):
        lr = ramped.optimizer.param_groups[0]["lr"]
        trainer.train_step(step, log_now=True)
        try:
            loss = trainer.collect(step)[loss_tag]
        except NonFiniteLossError:
            result.stop_reason = f"the loss became non-finite at lr {lr:.3g}"
            break
        result.lrs.append(lr)
        result.losses.append(loss)
        result.smoothed = smooth(result.losses)
        if step >= 1 and result.smoothed[-1] > DIVERGE_FACTOR * min(result.smoothed):
            result.stop_reason = f"the smoothed loss diverged at lr {lr:.3g}"
            break
    log.info(
        "%s: %d steps, %s; suggested lr %s",
        player,
        len(result.lrs),
        result.stop_reason,
        "none" if result.suggested_lr is None else f"{result.suggested_lr:.3g}",
    )
    return result


def write_outputs(results: list[RangeTest], out_dir: Path) -> Path:
    """Write lr_find.png, lr_find.json and TensorBoard scalars lr_find/*/PLAYER to out_dir."""
    import json

    from matplotlib.figure import Figure
    from torch.utils.tensorboard import SummaryWriter

    out_dir.mkdir(parents=True, exist_ok=True)
    writer = SummaryWriter(log_dir=str(out_dir / "tb"))
    for result in results:
        for step, (lr, loss, smoothed) in enumerate(
            zip(result.lrs, result.losses, result.smoothed, strict=True)
        ):
            writer.add_scalar(f"lr_find/lr/{result.player}", lr, step)
            writer.add_scalar(f"lr_find/loss/{result.player}", loss, step)
            writer.add_scalar(f"lr_find/smoothed_loss/{result.player}", smoothed, step)
    writer.close()

    figure = Figure(figsize=(5.5 * len(results), 4), layout="constrained")
    axes_list = figure.subplots(1, len(results), squeeze=False)[0]
    for axes, result in zip(axes_list, results, strict=True):
        axes.plot(result.lrs, result.losses, color="0.7", label="loss")
        axes.plot(result.lrs, result.smoothed, color="C0", label="smoothed loss")
        if result.suggested_lr is not None:
            axes.axvline(
                result.suggested_lr,
                color="C3",
                linestyle="--",
                label=f"suggested lr {result.suggested_lr:.2g}",
            )
        finite = [v for v in result.smoothed if math.isfinite(v)]
        if finite:
            low, high = min(finite), max(finite[0], min(finite) * DIVERGE_FACTOR)
            axes.set_ylim(low - 0.05 * (high - low), high + 0.05 * (high - low))
        axes.set_xscale("log")
        axes.set_xlabel("learning rate")
        axes.set_ylabel("training loss")
        axes.set_title(f"lr range test: {result.player}")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    png = out_dir / "lr_find.png"
    figure.savefig(png, dpi=110)

    data = {
        "rule": SUGGESTION_RULE,
        "players": {
            r.player: {
                "suggested_lr": r.suggested_lr,
                "stop_reason": r.stop_reason,
                "lrs": r.lrs,
                "losses": r.losses,
                "smoothed_losses": r.smoothed,
            }
            for r in results
        },
    }
    (out_dir / "lr_find.json").write_text(json.dumps(data, indent=2) + "\n")
    return png
