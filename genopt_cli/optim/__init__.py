"""Optimizers with their parameter groups, and learning-rate schedules."""

from genopt_cli.optim.optimizers import HARNESS_KEYS, build_optimizer, player_optimizer_config
from genopt_cli.optim.schedules import SCHEDULES, build_schedule, lr_multiplier

__all__ = [
    "HARNESS_KEYS",
    "SCHEDULES",
    "build_optimizer",
    "build_schedule",
    "lr_multiplier",
    "player_optimizer_config",
]
