"""Build each player's optimizer from the `optimizer` config and its `players.NAME` overrides.

Optimizer configs name a torch class with `_target_` and `_partial_: true`; Hydra instantiates
the partial, and this module supplies the parameter groups.
"""

import logging

import hydra.utils
from omegaconf import DictConfig, OmegaConf
from torch import nn

from genopt_cli.optim.param_groups import decay_groups

log = logging.getLogger(__name__)

# Keys of an optimizer config that the harness reads; they are not passed to the torch class.
HARNESS_KEYS = ("decay_exclude",)
# Keys of players.NAME that override the optimizer's own arguments.
PLAYER_OPTIMIZER_KEYS = ("lr", "betas", "weight_decay")


def player_optimizer_config(cfg: DictConfig, player: str) -> DictConfig:
    """Return the optimizer config with players.PLAYER's non-null overrides applied."""
    merged = OmegaConf.to_container(cfg.optimizer, resolve=True)
    overrides = cfg.players.get(player) if player in cfg.players else None
    for key in PLAYER_OPTIMIZER_KEYS:
        value = None if overrides is None else overrides[key]
        if value is not None:
            merged[key] = OmegaConf.to_container(value) if key == "betas" else value
    return OmegaConf.create(merged)


def build_optimizer(optimizer_cfg: DictConfig, module: nn.Module, player: str):
    arguments = OmegaConf.to_container(optimizer_cfg, resolve=True)
    rules = arguments.pop("decay_exclude", None) or ()
    if "betas" in arguments:
        arguments["betas"] = tuple(arguments["betas"])
    weight_decay = arguments.get("weight_decay", 0.0)
    groups = decay_groups(module, weight_decay, rules)
    factory = hydra.utils.instantiate(arguments)
    optimizer = factory(groups)
    for group in optimizer.param_groups:
        count = sum(p.numel() for p in group["params"])
        log.info(
            "%s: %s group '%s', %d tensors, %s parameters, lr %g, weight_decay %g",
            player,
            type(optimizer).__name__,
            group["name"],
            len(group["params"]),
            f"{count:,}",
            group["lr"],
            group.get("weight_decay", 0.0),
        )
    return optimizer
