"""Health checks that turn the usual training failures into warnings a person can act on.

The HealthMonitor reads the values the loop logs (`observe`) and the evaluation metrics
(`observe_eval`); `check_config` looks at the config before the first step. A check warns once
when its condition starts to hold and again only after the condition has cleared (an episode).
Tags that a run does not log are skipped, so every check works with whatever subset is present.
The thresholds are rules of thumb chosen for this harness, not published constants.
"""

import json
import logging
import math
import statistics
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

from omegaconf import DictConfig

log = logging.getLogger(__name__)

# Gradient-norm spike: the norm exceeds SPIKE_FACTOR times the median of the player's last
# SPIKE_HISTORY logged norms (at least SPIKE_MIN_HISTORY of them).
SPIKE_FACTOR = 10.0
SPIKE_HISTORY = 20
SPIKE_MIN_HISTORY = 5
# Loss rising: the mean of the last LOSS_WINDOW logged losses is more than RISE_FRACTION of
# |best| above the lowest such mean so far.
LOSS_WINDOW = 5
RISE_FRACTION = 0.2
# Flat loss: after FLAT_OBSERVATIONS logged losses, none is FLAT_FRACTION below the first.
FLAT_OBSERVATIONS = 10
FLAT_FRACTION = 0.01
# Discriminator wins: its batch accuracy is at least D_ACCURACY for D_WIN_OBSERVATIONS logged
# values in a row while the generator's loss is at least D_WIN_GENERATOR_LOSS, which for the
# non-saturating loss means D(G(z)) < 0.05. Early in a healthy run D is often right on every
# example for a while, but not yet that sure.
D_ACCURACY = 0.98
D_WIN_OBSERVATIONS = 5
D_WIN_GENERATOR_LOSS = 3.0
# Generator loss diverging: its LOSS_WINDOW mean is GENERATOR_RISE nats above its lowest mean
# and at least twice that mean.
GENERATOR_RISE = 1.5
# Collapsed VAE: at most this fraction of latent dimensions is active (KL above KL_ACTIVE nats).
ACTIVE_FRACTION = 0.125
KL_ACTIVE = 0.01
# Mode coverage on 2-D data: fewer than this fraction of the modes has samples.
MODES_FRACTION = 0.5
# EMA too slow: more than this share of the EMA is still the initial weights at the last step.
EMA_INITIAL_SHARE = 0.1


@dataclass
class HealthWarning:
    step: int
    check: str
    message: str
    hint: str
    player: str | None = None

    def text(self) -> str:
        return f"step {self.step}: {self.message}. {self.hint}"


def ema_initial_share(decay: float, warmup: bool, steps: int) -> float:
    """Return the weight of the initial weights in the EMA after `steps` updates.

    It is the product of the per-update decays, min(decay, (1 + t) / (10 + t)) with warmup.
    """
    if not warmup:
        return decay**steps
    log_share = 0.0
    for t in range(steps):
        log_share += math.log(min(decay, (1 + t) / (10 + t)))
        if log_share < -50:
            return 0.0
    return math.exp(log_share)


class HealthMonitor:
    """Health checks over the logged values of one run; warnings go to the log and to `path`."""

    def __init__(
        self,
        players: list[str],
        latent_dim: int | None = None,
        expected_modes: int | None = None,
        path: Path | None = None,
        log_warnings: bool = True,
    ):
        self.players = list(players)
        self.is_gan = "generator" in self.players and "discriminator" in self.players
        self.latent_dim = latent_dim
        self.expected_modes = expected_modes
        self.path = path
        self.log_warnings = log_warnings
        self.warnings: list[HealthWarning] = []
        self._active: set[tuple[str, str | None]] = set()
        self._grad_norms = {p: deque(maxlen=SPIKE_HISTORY) for p in self.players}
        self._losses: dict[str, list[float]] = {}
        self._best_mean: dict[str, float] = {}
        self._d_wins = 0
        self._kl_weight: float | None = None

    @classmethod
    def from_config(
        cls, cfg: DictConfig, players: list[str], path: Path | None = None, log_warnings=True
    ) -> "HealthMonitor":
        latent_dim = cfg.model.latent_dim if cfg.model.name == "vae" else None
        # The 2-D mixtures log their mode count as eval/modes_total; `data.modes` can state it
        # for other data. Without either, the mode-coverage check is skipped.
        expected_modes = cfg.data.modes if "modes" in cfg.data else None
        return cls(players, latent_dim, expected_modes, path, log_warnings)

    # Bookkeeping

    def _episode(
        self, condition: bool, step: int, check: str, message: str, hint: str, player=None
    ) -> list[HealthWarning]:
        """Warn when `condition` becomes true for (check, player); re-arm once it is false again."""
        key = (check, player)
        if not condition:
            self._active.discard(key)
            return []
        if key in self._active:
            return []
        self._active.add(key)
        warning = HealthWarning(step, check, message, hint, player)
        self.warnings.append(warning)
        if self.log_warnings:
            log.warning("health: %s", warning.text())
        return [warning]

    def save(self) -> None:
        if self.path is not None:
            data = [asdict(warning) for warning in self.warnings]
            self.path.write_text(json.dumps(data, indent=2) + "\n")

    # Checks on the logged values

    def observe(self, step: int, values: dict[str, float]) -> list[HealthWarning]:
        """Run the checks on the values logged at `step`; return the new warnings."""
        found: list[HealthWarning] = []
        for player in self.players:
            found += self._check_grad_norm(step, player, values.get(f"optim/grad_norm/{player}"))
        kl_weight = values.get("train/kl_weight")
        annealing = kl_weight is not None and kl_weight != self._kl_weight
        self._kl_weight = kl_weight
        for tag, value in values.items():
            if not tag.startswith("train/loss") or not math.isfinite(value):
                continue
            player = tag.removeprefix("train/loss").removeprefix("/") or self.players[0]
            history = self._losses.setdefault(tag, [])
            history.append(value)
            if self.is_gan:
                if player == "generator":
                    found += self._check_generator(step, tag, history)
                continue
            found += self._check_flat(step, player, history, values, annealing)
            found += self._check_rising(step, player, tag, history, annealing)
        if self.is_gan:
            found += self._check_discriminator(
                step, values.get("train/d_accuracy"), values.get("train/loss/generator")
            )
        if found:
            self.save()
        return found

    def _check_grad_norm(self, step, player, norm) -> list[HealthWarning]:
        if norm is None or not math.isfinite(norm):
            return []
        history = self._grad_norms[player]
        median = statistics.median(history) if len(history) >= SPIKE_MIN_HISTORY else None
        history.append(norm)
        if median is None:
            return []
        return self._episode(
            norm > SPIKE_FACTOR * median,
            step,
            "grad_norm_spike",
            f"gradient norm of {player} is {norm:.3g}, {norm / median:.0f} times its recent "
            f"median {median:.3g}",
            "Lower optimizer.lr, add warmup (schedule.warmup_steps) or clip "
            "(trainer.clip_grad_norm=1.0).",
            player,
        )

    def _window_mean(self, tag: str, history: list[float]) -> tuple[float, float] | None:
        """Return the mean of the last LOSS_WINDOW values and the lowest such mean so far."""
        if len(history) < LOSS_WINDOW:
            return None
        mean = sum(history[-LOSS_WINDOW:]) / LOSS_WINDOW
        best = min(self._best_mean.get(tag, mean), mean)
        self._best_mean[tag] = best
        return mean, best

    def _check_rising(self, step, player, tag, history, annealing) -> list[HealthWarning]:
        means = self._window_mean(tag, history)
        if means is None:
            return []
        mean, best = means
        # While the VAE's KL weight still grows, the loss may rise by design.
        condition = not annealing and mean - best > RISE_FRACTION * abs(best)
        return self._episode(
            condition,
            step,
            "loss_rising",
            f"{tag} has risen to {mean:.4g} (mean of the last {LOSS_WINDOW} logs) from a best "
            f"of {best:.4g}",
            "The lr is likely too high for this stage: lower optimizer.lr, use a decaying "
            "schedule (schedule=cosine) or clip (trainer.clip_grad_norm=1.0).",
            player,
        )

    def _check_flat(self, step, player, history, values, annealing) -> list[HealthWarning]:
        if len(history) != FLAT_OBSERVATIONS:
            return []
        first = history[0]
        # A growing KL weight adds to the VAE's loss, so a flat loss then means nothing.
        condition = not annealing and min(history) > first - FLAT_FRACTION * abs(first)
        ratio = values.get(f"optim/update_ratio/{player}")
        if ratio is not None and ratio < 1e-5:
            hint = f"Updates are tiny (|update| / |params| = {ratio:.2g}): raise optimizer.lr."
        elif ratio is not None and ratio > 1e-2:
            hint = f"Updates are large (|update| / |params| = {ratio:.2g}): lower optimizer.lr."
        else:
            hint = (
                "The lr is likely far too low, or so high that the model is stuck: "
                "run `genopt lr-find` with the same overrides to pick one."
            )
        return self._episode(
            condition,
            step,
            "loss_flat",
            f"the loss of {player} has not fallen {FLAT_FRACTION:.0%} below its first logged "
            f"value {first:.4g} in {FLAT_OBSERVATIONS} logs",
            hint,
            player,
        )

    def _check_discriminator(self, step, accuracy, generator_loss) -> list[HealthWarning]:
        if accuracy is None:
            return []
        self._d_wins = self._d_wins + 1 if accuracy >= D_ACCURACY else 0
        confident = generator_loss is None or generator_loss >= D_WIN_GENERATOR_LOSS
        return self._episode(
            self._d_wins >= D_WIN_OBSERVATIONS and confident,
            step,
            "discriminator_wins",
            f"the discriminator's accuracy has been at least {D_ACCURACY} for "
            f"{self._d_wins} logs in a row (now {accuracy:.3f})",
            "The generator gets no useful gradient: lower players.discriminator.lr, raise "
            "model.r1_gamma, keep model.spectral_norm=true, or shrink the discriminator.",
            "discriminator",
        )

    def _check_generator(self, step, tag, history) -> list[HealthWarning]:
        means = self._window_mean(tag, history)
        if means is None:
            return []
        mean, best = means
        condition = mean - best > GENERATOR_RISE and mean > 2 * best
        return self._episode(
            condition,
            step,
            "generator_diverging",
            f"the generator's loss has grown to {mean:.4g} (mean of the last {LOSS_WINDOW} "
            f"logs) from a best of {best:.4g}",
            "The discriminator is pulling away: lower players.discriminator.lr or raise "
            "players.generator.lr, and check train/d_accuracy.",
            "generator",
        )

    # Checks on the evaluation metrics

    def observe_eval(self, step: int, metrics: dict[str, float]) -> list[HealthWarning]:
        """Run the checks on evaluation metrics and save health.json, empty when all is well."""
        found = self._check_latents(step, metrics) + self._check_modes(step, metrics)
        self.save()
        return found

    def _check_latents(self, step, metrics) -> list[HealthWarning]:
        per_dim = [v for tag, v in metrics.items() if tag.startswith("eval/kl_dim/")]
        if per_dim:
            total, active = len(per_dim), sum(value > KL_ACTIVE for value in per_dim)
        elif "val/active_latents" in metrics and self.latent_dim is not None:
            total, active = self.latent_dim, metrics["val/active_latents"]
        else:
            return []
        return self._episode(
            active <= ACTIVE_FRACTION * total,
            step,
            "posterior_collapse",
            f"{active:.0f} of {total} latent dimensions are active (KL above {KL_ACTIVE} nats); "
            "the posterior has collapsed to the prior",
            "Anneal the KL weight for longer (model.kl_warmup_steps), lower model.beta, or "
            "use a smaller decoder.",
        )

    def _check_modes(self, step, metrics) -> list[HealthWarning]:
        covered = metrics.get("eval/modes_covered")
        total = metrics.get("eval/modes_total", self.expected_modes)
        if covered is None or total is None:
            return []
        return self._episode(
            covered < MODES_FRACTION * total,
            step,
            "few_modes",
            f"the generator's samples cover {covered:.0f} of {total:.0f} modes",
            "This is mode collapse: lower the lrs, raise model.r1_gamma, or try model.loss=hinge.",
            "generator",
        )

    # Checks on the config

    def check_config(self, cfg: DictConfig) -> list[HealthWarning]:
        """Warn about settings that cannot work well over this run's length."""
        found = []
        steps = cfg.trainer.max_steps
        decay = cfg.trainer.ema.decay
        if decay is not None:
            share = ema_initial_share(decay, cfg.trainer.ema.warmup, steps)
            found += self._episode(
                share > EMA_INITIAL_SHARE,
                0,
                "ema_too_slow",
                f"trainer.ema.decay={decay} averages over about {1 / (1 - decay):.0f} updates "
                f"but the run has {steps}: at the end {share:.0%} of the EMA is still the "
                "initial weights",
                "Lower trainer.ema.decay (about 1 - 10 / trainer.max_steps) or set "
                "trainer.ema.warmup=true.",
            )
        if cfg.model.name == "vae" and cfg.model.kl_schedule is not None:
            warmup = cfg.model.kl_warmup_steps
            found += self._episode(
                warmup > steps,
                0,
                "kl_warmup_too_long",
                f"model.kl_warmup_steps={warmup} is longer than trainer.max_steps={steps}, so "
                f"the KL weight ends at {steps / warmup:.2f} of model.beta",
                "Lower model.kl_warmup_steps below trainer.max_steps.",
            )
        if found:
            self.save()
        return found
