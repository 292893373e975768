"""Typed schema of the composed config, so that Hydra rejects misspelled keys and wrong types.

The values live in the YAML files under configs/; the schema fixes only names and types. Groups
whose keys differ per option (model, data, optimizer, schedule) are typed loosely here and
checked by genopt_cli.config.validate.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf


@dataclass
class EMAConfig:
    decay: float | None = MISSING
    warmup: bool = MISSING


@dataclass
class LoraConfig:
    rank: int | None = MISSING
    alpha: float = MISSING
    dropout: float = MISSING
    target_modules: Any = MISSING
    exclude_modules: Any = MISSING


@dataclass
class TrainerConfig:
    max_steps: int = MISSING
    accumulate: int = MISSING
    precision: str = MISSING
    clip_grad_norm: float | None = MISSING
    clip_grad_value: float | None = MISSING
    ema: EMAConfig = field(default_factory=EMAConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    seed: int = MISSING
    device: str = MISSING
    log_every: int = MISSING
    checkpoint_every: int | None = MISSING
    keep_checkpoints: int = MISSING
    on_nonfinite: str = MISSING
    max_skips_in_a_row: int = MISSING
    activation_checkpointing: bool = MISSING
    compile: bool = MISSING
    eval_every: int | None = MISSING
    num_samples: int = MISSING
    eval_samples: int | None = MISSING
    devices: int = MISSING
    sync_batchnorm: bool = MISSING


@dataclass
class PlayerConfig:
    """Per-player overrides of the optimizer and clipping; null keeps the run-wide value."""

    lr: float | None = None
    betas: list[float] | None = None
    weight_decay: float | None = None
    clip_grad_norm: float | None = None
    clip_grad_value: float | None = None


@dataclass
class GenoptConfig:
    data: Any = MISSING
    optimizer: Any = MISSING
    schedule: Any = MISSING
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    model: Any = MISSING
    players: dict[str, PlayerConfig] = field(default_factory=dict)
    init_from: str | None = MISSING
    resume: str | None = MISSING


def multiply(a, b) -> float:
    """Multiply two values: the `genopt.times` resolver, ${genopt.times:A,B} = A x B."""
    return float(a) * float(b)


def register() -> None:
    ConfigStore.instance().store(name="genopt_schema", node=GenoptConfig)
    if not OmegaConf.has_resolver("genopt.times"):
        OmegaConf.register_new_resolver("genopt.times", multiply)
