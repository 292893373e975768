"""Compose configs outside a Hydra run: for checks before a run starts, `genopt recipes` and
`genopt list`."""

import itertools
import re
from importlib import resources
from pathlib import Path

from hydra import compose, initialize_config_module
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from genopt_cli.config import schema
from genopt_cli.config.errors import GenoptError
from genopt_cli.config.validate import closest

CONFIG_MODULE = "genopt_cli.configs"
CONFIG_NAME = "train"
# Config groups a user picks from. recipe/ also contains the family rows that model=X pulls
# in, so `recipe=NAME` offers only the other files (finetune).
GROUPS = ("model", "data", "optimizer", "schedule", "trainer", "recipe")


def config_dir() -> Path:
    return Path(str(resources.files(CONFIG_MODULE)))


def group_options(group: str) -> list[str]:
    options = sorted(path.stem for path in (config_dir() / group).glob("*.yaml"))
    if group == "recipe":
        models = set(group_options("model"))
        options = [option for option in options if option not in models]
    return options


def describe(group: str, option: str) -> str:
    """Return the one-line comment that opens configs/GROUP/OPTION.yaml."""
    for line in (config_dir() / group / f"{option}.yaml").read_text().splitlines():
        if line.startswith("# @package"):
            continue
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def _compose(overrides: list[str]) -> DictConfig:
    schema.register()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base=None):
        return compose(config_name=CONFIG_NAME, overrides=overrides)


def compose_config(overrides: list[str]) -> DictConfig:
    """Compose configs/train.yaml with command-line style overrides; raise GenoptError."""
    try:
        return _compose(overrides)
    except (HydraException, OmegaConfBaseException) as error:
        text = str(error).strip()
        match = re.match(r"Could not override '([^']+)'", text)
        if match:
            raise GenoptError(unknown_key_message(match.group(1), overrides)) from None
        cause = error.__cause__
        if cause is not None and str(cause).strip() and str(cause).strip() not in text:
            # Hydra's own line names the override, and the cause states what was wrong with it.
            detail = [
                line
                for line in str(cause).strip().splitlines()
                if not line.strip().startswith(("reference_type", "object_type"))
            ]
            text += "\n" + "\n".join(detail)
        raise GenoptError(
            text.replace("\n\n", "\n") + "\nSee `genopt list` for every group and option."
        ) from None


def compose_run_dir(overrides: list[str]) -> str:
    """Return the run folder Hydra would make for `overrides` now (hydra.run.dir resolved)."""
    schema.register()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base=None):
        cfg = compose(config_name=CONFIG_NAME, overrides=overrides, return_hydra_config=True)
    return str(cfg.hydra.run.dir)


def unknown_key_message(key: str, overrides: list[str]) -> str:
    """Name the unknown part of a dotted key, the valid keys at that level and the closest."""
    # Group choices alone decide which keys exist; other values could fail to compose too.
    choices = [o for o in overrides if o.split("=", 1)[0] in GROUPS and "," not in o]
    try:
        node = _compose(choices)
    except (HydraException, OmegaConfBaseException):
        return f"{key} is not a key of the config; see `genopt train --cfg job` for all keys"
    parts = key.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, DictConfig) or part not in node:
            parent = ".".join(parts[:depth]) or "the config"
            valid = list(node.keys()) if isinstance(node, DictConfig) else []
            return (
                f"{key}: '{part}' is not a key of {parent}{closest(part, valid)}; "
                f"valid: {', '.join(map(str, valid)) or 'none'}"
            )
        node = node[part]
    return f"{key} could not be set; see `genopt train --cfg job` for all keys"


def check_group_choices(overrides: list[str]) -> list[str]:
    """Return a problem for each `group=option` that names no config file, with the closest."""
    problems = []
    for override in OverridesParser.create().parse_overrides(overrides):
        key = override.key_or_group
        if key not in GROUPS or override.package is not None or override.is_delete():
            continue
        values = (
            list(override.sweep_string_iterator())
            if override.is_sweep_override() and not override.is_interval_sweep()
            else []
            if override.is_sweep_override()
            else [override.value()]
        )
        options = group_options(key)
        for value in values:
            if str(value) not in options:
                problems.append(
                    f"{key}={value} is not a known {key}{closest(value, options)}; "
                    f"valid: {', '.join(options)}"
                )
    return problems


def expand_sweep(overrides: list[str]) -> list[list[str]]:
    """Return one override list per combination of a `-m` sweep's comma-separated values.

    Range and interval sweeps (for search sweepers) are dropped: their values are unknown here.
    """
    parsed = OverridesParser.create().parse_overrides(overrides)
    axes = []
    for override, text in zip(parsed, overrides, strict=True):
        if override.is_sweep_override():
            if override.is_interval_sweep() or override.is_range_sweep():
                continue
            key = override.get_key_element()
            axes.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            axes.append([text])
    return [list(combination) for combination in itertools.product(*axes)]
