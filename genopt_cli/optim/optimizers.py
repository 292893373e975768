"""Build each player's optimizer from the `optimizer` config and its `players.NAME` overrides.

Optimizer configs name the optimizer class with `_target_`. This module builds the parameter
groups (weight decay, layer-wise lr decay, the roles of a combined optimizer) and passes the
other keys to the class as keyword arguments.
"""

import importlib.util
import logging

import hydra.utils
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from genopt_cli.config.errors import GenoptError
from genopt_cli.optim.param_groups import build_param_groups

log = logging.getLogger(__name__)

# Keys of an optimizer config that the harness reads; they are not passed to the class.
HARNESS_KEYS = ("name", "_target_", "_partial_", "decay_exclude", "layer_decay", "lr_scaling")
# Keys of players.NAME that override the optimizer's own arguments.
PLAYER_OPTIMIZER_KEYS = ("lr", "betas", "weight_decay")
# Top-level module of an optional optimizer package -> (PyPI name, genopt extra installing it).
OPTIONAL_PACKAGES = {
    "pytorch_optimizer": ("pytorch-optimizer", "extra-optimizers"),
    "schedulefree": ("schedulefree", "extra-optimizers"),
}
# Optimizers whose step() takes a closure that re-evaluates the loss, and calls it many times.
CLOSURE_OPTIMIZERS = (torch.optim.LBFGS,)


def player_optimizer_config(cfg: DictConfig, player: str) -> DictConfig:
    """Return the optimizer config with players.PLAYER's non-null overrides applied."""
    merged = OmegaConf.to_container(cfg.optimizer, resolve=True)
    overrides = cfg.players.get(player) if player in cfg.players else None
    for key in PLAYER_OPTIMIZER_KEYS:
        value = None if overrides is None else overrides[key]
        if value is not None:
            merged[key] = OmegaConf.to_container(value) if key == "betas" else value
    return OmegaConf.create(merged)


def missing_package(target: str) -> str | None:
    """Return an install hint when the package of `target` is optional and not installed."""
    module = target.split(".", 1)[0]
    if module not in OPTIONAL_PACKAGES or importlib.util.find_spec(module) is not None:
        return None
    package, extra = OPTIONAL_PACKAGES[module]
    return (
        f"{target} needs the optional package {package}, which is not installed; "
        f"install it with: pip install 'genopt[{extra}]' (or pip install {package})"
    )


def requires_closure(optimizer: torch.optim.Optimizer) -> bool:
    return isinstance(optimizer, CLOSURE_OPTIMIZERS)


def set_optimizer_mode(optimizer: torch.optim.Optimizer, training: bool) -> None:
    """Call optimizer.train() or optimizer.eval() where the optimizer has them.

    Schedule-free optimizers keep the parameters at the gradient-evaluation point while
    training and move them to the averaged weights in eval mode. Other optimizers have no mode.
    """
    switch = getattr(optimizer, "train" if training else "eval", None)
    if callable(switch):
        switch()


def optimizer_class_and_options(arguments: dict) -> tuple[type, dict]:
    """Split an optimizer config into its class (`_target_`) and the keyword arguments it takes."""
    target = arguments["_target_"]
    hint = missing_package(target)
    if hint is not None:
        raise GenoptError(f"optimizer: {hint}")
    options = {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in arguments.items()
        if key not in HARNESS_KEYS
    }
    return hydra.utils.get_object(target), options


def build_optimizer(optimizer_cfg: DictConfig, module: nn.Module, player: str):
    arguments = OmegaConf.to_container(optimizer_cfg, resolve=True)
    optimizer_class, options = optimizer_class_and_options(arguments)
    groups = build_param_groups(
        module,
        lr=arguments["lr"],
        weight_decay=arguments.get("weight_decay"),
        rules=arguments.get("decay_exclude") or (),
        layer_decay=arguments.get("layer_decay"),
        role_of=getattr(optimizer_class, "parameter_role", None),
    )
    optimizer = optimizer_class(groups, **options)
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
