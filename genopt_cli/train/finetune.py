"""Fine-tuning: start from a finished run's weights, optionally train low-rank adapters only.

Adapters come from peft (`pip install 'genopt[lora]'`), injected into the plain modules, so the
task and the loop see the same modules as before. Checkpoints hold the merged weights
(W + scale B A), so `genopt sample` and a later `init_from` load them like any other run.
"""

import importlib.util
import logging
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from genopt_cli.config.errors import GenoptError
from genopt_cli.data.paths import resolve_path
from genopt_cli.train.checkpoint import load_checkpoint

log = logging.getLogger(__name__)

LORA_INSTALL = "pip install 'genopt[lora]' (or pip install peft)"


def checkpoint_path(run_dir: str, launch_dir: Path | None) -> Path:
    return resolve_path(run_dir, launch_dir) / "checkpoints" / "last.pt"


def load_initial_state(cfg: DictConfig, launch_dir: Path | None) -> dict | None:
    """Read init_from's last checkpoint, or return None when init_from is null."""
    if cfg.init_from is None:
        return None
    return load_checkpoint(checkpoint_path(cfg.init_from, launch_dir))


def initial_vocab(state: dict | None) -> list[str] | None:
    """Return the vocabulary the initial weights were trained with, for text models."""
    if state is None:
        return None
    return state.get("data", {}).get("vocab")


def load_initial_weights(cfg: DictConfig, state: dict, players: dict[str, nn.Module]) -> None:
    """Load each player's weights from `state`: the EMA copy where the run had EMA."""
    source = OmegaConf.create(state["config"])
    if source.model.name != cfg.model.name:
        raise GenoptError(
            f"init_from={cfg.init_from} trained model={source.model.name}, but this run is "
            f"model={cfg.model.name}; pass model={source.model.name}"
        )
    for name, module in players.items():
        ema = state["ema"].get(name)
        weights = ema["module"] if ema is not None else state["players"][name]["module"]
        try:
            module.load_state_dict(weights)
        except RuntimeError as error:
            differing = [
                f"model.{key}={cfg.model[key]} (the run had {value})"
                for key, value in source.model.items()
                if key in cfg.model and cfg.model[key] != value
            ]
            raise GenoptError(
                f"init_from={cfg.init_from}: the weights of player {name} do not fit this "
                f"model ({str(error).splitlines()[0]}); model keys that differ from that run: "
                f"{', '.join(differing) or 'none'}. Pass that run's model values."
            ) from None
        log.info(
            "%s: weights from %s (%s)", name, cfg.init_from, "EMA" if ema is not None else "raw"
        )


def lora_available() -> bool:
    return importlib.util.find_spec("peft") is not None


def add_lora(module: nn.Module, lora_cfg: DictConfig, player: str) -> nn.Module:
    """Inject low-rank adapters into `module` in place; only the adapters stay trainable."""
    if not lora_available():
        raise GenoptError(f"trainer.lora.rank={lora_cfg.rank} needs peft; {LORA_INSTALL}")
    from peft import LoraConfig, inject_adapter_in_model

    targets = lora_cfg.target_modules
    excluded = lora_cfg.exclude_modules
    config = LoraConfig(
        r=lora_cfg.rank,
        lora_alpha=lora_cfg.alpha,
        lora_dropout=lora_cfg.dropout,
        target_modules=targets if isinstance(targets, str) else list(targets),
        exclude_modules=None if excluded is None else list(excluded),
    )
    try:
        module = inject_adapter_in_model(config, module)
    except ValueError as error:
        raise GenoptError(
            f"trainer.lora.target_modules={targets}: {error}; name modules of the model or use "
            "all-linear"
        ) from None
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    total = sum(p.numel() for p in module.parameters())
    log.info(
        "%s: LoRA rank %d, %s of %s parameters trainable (%.2f%%)",
        player,
        lora_cfg.rank,
        f"{trainable:,}",
        f"{total:,}",
        100.0 * trainable / total,
    )
    return module


def merged_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """Return the state dict of `module` with every LoRA adapter merged into its base weight.

    The keys are those of the model without adapters, so the result loads into a plain model.
    Without adapters this is module.state_dict().
    """
    state = module.state_dict()
    adapted = {
        name: layer
        for name, layer in module.named_modules()
        if hasattr(layer, "get_delta_weight") and hasattr(layer, "base_layer")
    }
    if not adapted:
        return state
    merged = {}
    for key, value in state.items():
        if ".lora_" in key:
            continue
        merged[key.replace(".base_layer.", ".")] = value
    for name, layer in adapted.items():
        weight = merged[f"{name}.weight"].clone()
        for adapter in layer.active_adapters:
            weight += layer.get_delta_weight(adapter).to(weight.dtype)
        merged[f"{name}.weight"] = weight
    return merged
