"""Build a Trainer in-process from command-line style overrides, as `genopt train` would."""

import torch

from genopt_cli.config.compose import compose_config
from genopt_cli.data import build_dataset
from genopt_cli.models import build_task
from genopt_cli.train.run import build_trainer
from tests.helpers import TINY

CPU = torch.device("cpu")


def make_trainer(model: str, *overrides: str, tiny: bool = True, seed: int = 0, replicas=None):
    """Return (cfg, trainer) for `model` with TINY sizes and the overrides, on the CPU; with
    `replicas`, this process's part of a data-parallel run."""
    cfg = compose_config([f"model={model}", *(TINY[model] if tiny else []), *overrides])
    torch.manual_seed(seed)
    dataset = build_dataset(cfg.data, None)
    task = build_task(cfg.model, dataset)
    if cfg.trainer.activation_checkpointing:
        task.enable_activation_checkpointing()
    task.to(CPU)
    return cfg, build_trainer(cfg, task, dataset, CPU, replicas)
