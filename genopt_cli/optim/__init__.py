"""Optimizers with their parameter groups, and learning-rate schedules."""

from genopt_cli.optim.optimizers import (
    HARNESS_KEYS,
    build_optimizer,
    missing_package,
    player_optimizer_config,
    requires_closure,
    set_optimizer_mode,
)
from genopt_cli.optim.schedules import SCHEDULES, build_schedule, lr_multiplier

__all__ = [
    "HARNESS_KEYS",
    "SCHEDULES",
    "build_optimizer",
    "build_schedule",
    "lr_multiplier",
    "missing_package",
    "player_optimizer_config",
    "requires_closure",
    "set_optimizer_mode",
]
