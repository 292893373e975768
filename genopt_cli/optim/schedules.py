"""Learning-rate schedules as multipliers of each group's base lr, per optimizer step t.

Every schedule takes a linear warmup of W steps, during which the multiplier is (t + 1) / W, so
the first update is never at lr 0. After warmup, u = t - W counts the schedule's own steps:

  constant         1
  step             gamma^floor(u / step_size)
  exponential      exp(-decay_rate u)
  cosine           m + (1 - m) (1 + cos(pi u / (T - W))) / 2, m = min_lr / lr, T = max_steps
  cosine_restarts  the same within each period; periods T_0, T_0 T_mult, T_0 T_mult^2, ...
  wsd              1 until the last decay_fraction of the steps, then linear down to m

torch.optim.lr_scheduler.LambdaLR applies the multiplier, so scheduler state saves and loads
with torch's own state_dict. The lr used by update t is base lr x multiplier(t).
"""

import math
from functools import partial
from types import SimpleNamespace

from omegaconf import DictConfig, OmegaConf
from torch.optim.lr_scheduler import LambdaLR


def _constant(u: int, cfg, total: int, floor: float) -> float:
    return 1.0


def _step(u: int, cfg, total: int, floor: float) -> float:
    return cfg.gamma ** (u // cfg.step_size)


def _exponential(u: int, cfg, total: int, floor: float) -> float:
    return math.exp(-cfg.decay_rate * u)


def _cosine(u: int, cfg, total: int, floor: float) -> float:
    progress = min(u / max(1, total), 1.0)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _cosine_restarts(u: int, cfg, total: int, floor: float) -> float:
    period = cfg.T_0
    while u >= period:
        u -= period
        period *= cfg.T_mult
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * u / period))


def _wsd(u: int, cfg, total: int, floor: float) -> float:
    decay_steps = max(1, round(cfg.decay_fraction * total))
    start = total - decay_steps
    if u < start:
        return 1.0
    return 1.0 - (1.0 - floor) * min(1.0, (u - start) / decay_steps)


SCHEDULES = {
    "constant": _constant,
    "step": _step,
    "exponential": _exponential,
    "cosine": _cosine,
    "cosine_restarts": _cosine_restarts,
    "wsd": _wsd,
}


def lr_multiplier(t: int, cfg, max_steps: int, base_lr: float) -> float:
    """Return the multiplier of the base lr at optimizer step t (0-based).

    `cfg` is the schedule config, as a DictConfig or any object with the same attributes.
    """
    warmup = cfg.warmup_steps
    if t < warmup:
        return (t + 1) / warmup
    min_lr = getattr(cfg, "min_lr", None)
    floor = 0.0 if min_lr is None else min_lr / base_lr
    return SCHEDULES[cfg.name](t - warmup, cfg, max_steps - warmup, floor)


def build_schedule(optimizer, cfg: DictConfig, max_steps: int, base_lr: float) -> LambdaLR:
    # A plain namespace, because the multiplier runs every step and DictConfig access is slow.
    values = SimpleNamespace(**OmegaConf.to_container(cfg, resolve=True))
    return LambdaLR(
        optimizer, partial(lr_multiplier, cfg=values, max_steps=max_steps, base_lr=base_lr)
    )
