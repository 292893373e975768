"""The contents of a checkpoint, and how a resumed run gets every part of it back.

A checkpoint is a dict of tensors and plain containers (read with weights_only=True):

- step, the config as a YAML string, and the text vocabulary where there is one;
- per player, `module`: the weights evaluation uses (a schedule-free optimizer's average, LoRA
  merged), which `genopt sample` and `init_from` read;
- per player, `train_module`: the live weights, only where they differ from `module`;
- per player: the optimizer, schedule and gradient-scaler states, and the skip counters;
- per EMA: its module and update count;
- the random generators: torch's CPU and CUDA generators, numpy's and Python's; for a
  data-parallel run, those of every process (`rng_ranks`) and the number of processes
  (`world_size`).

Batches are a pure function of (seed, step), so the step alone restores the data position.
"""

import logging
import random

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from genopt_cli.optim import set_optimizer_mode
from genopt_cli.train.distributed import Replicas
from genopt_cli.train.finetune import merged_state_dict
from genopt_cli.train.loop import Trainer

log = logging.getLogger(__name__)

FORMAT = 2


def capture_rng(device: torch.device) -> dict:
    version, mt_state, gauss_next = random.getstate()
    numpy_state = np.random.get_state(legacy=False)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
        "numpy": {
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "python": {"version": version, "state": list(mt_state), "gauss_next": gauss_next},
    }


def restore_rng(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {
                "key": numpy_state["key"].numpy().astype(np.uint32),
                "pos": numpy_state["pos"],
            },
            "has_gauss": numpy_state["has_gauss"],
            "gauss": numpy_state["gauss"],
        }
    )
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss_next"]))


def gather_rng(device: torch.device, replicas: Replicas | None) -> list[dict]:
    """Return every process's random state by rank (a collective under data parallelism)."""
    own = capture_rng(device)
    return [own] if replicas is None else replicas.gather(own)


def _has_eval_mode(optimizer: torch.optim.Optimizer) -> bool:
    return callable(getattr(optimizer, "eval", None))


def _has_adapters(module: torch.nn.Module) -> bool:
    return hasattr(module, "peft_config")


def _clone(state: dict) -> dict:
    return {key: value.detach().clone() for key, value in state.items()}


def checkpoint_state(
    cfg: DictConfig, trainer: Trainer, step: int, dataset=None, rng: list[dict] | None = None
) -> dict:
    """Return the run's whole state after `step` optimizer steps.

    The tensors are the live ones, not copies (torch.save writes them at once), except the
    weights taken in a schedule-free optimizer's eval mode, which switching back would change.
    `rng` holds every process's random state, by rank (gather_rng); None takes this process's.
    """
    rng = rng or [capture_rng(trainer.device)]
    state = {
        "format": FORMAT,
        "step": step,
        "config": OmegaConf.to_yaml(cfg, resolve=True),
        "players": {},
        "ema": {},
        "rng": rng[0],
        "world_size": len(rng),
        "data": {"vocab": list(dataset.vocab)} if hasattr(dataset, "vocab") else {},
    }
    for player in trainer.players:
        entry = {
            "optimizer": player.optimizer.state_dict(),
            "schedule": player.schedule.state_dict(),
            "counters": player.state_dict(),
        }
        if player.scaler is not None:
            entry["scaler"] = player.scaler.state_dict()
        averaged = _has_eval_mode(player.optimizer)
        if averaged or _has_adapters(player.module):
            entry["train_module"] = player.module.state_dict()
        if averaged:
            set_optimizer_mode(player.optimizer, training=False)
            entry["module"] = _clone(merged_state_dict(player.module))
            set_optimizer_mode(player.optimizer, training=True)
        else:
            entry["module"] = merged_state_dict(player.module)
        state["players"][player.name] = entry
        if player.ema is not None:
            ema = {"updates": player.ema.updates, "module": merged_state_dict(player.ema.module)}
            if _has_adapters(player.ema.module):
                ema["train_module"] = player.ema.module.state_dict()
            state["ema"][player.name] = ema
    if len(rng) > 1:
        state["rng_ranks"] = rng
    return state


def restore_training_state(state: dict, trainer: Trainer, replicas: Replicas | None = None) -> int:
    """Load every part of `state` into the trainer's players; return the step to resume at.

    The random generators are restored last, after everything that draws from them was built.
    With another number of processes than the checkpoint's, rank 0 takes the saved rank 0's
    random state and the others keep their fresh streams.
    """
    for player in trainer.players:
        entry = state["players"][player.name]
        player.module.load_state_dict(entry.get("train_module", entry["module"]))
        player.optimizer.load_state_dict(entry["optimizer"])
        player.schedule.load_state_dict(entry["schedule"])
        player.load_state_dict(entry["counters"])
        if player.scaler is not None:
            player.scaler.load_state_dict(entry["scaler"])
        if player.ema is not None:
            ema = state["ema"][player.name]
            module = ema.get("train_module", ema["module"])
            player.ema.load_state_dict({"module": module, "updates": ema["updates"]})
        set_optimizer_mode(player.optimizer, training=True)
    world_size = 1 if replicas is None else replicas.world_size
    rank = 0 if replicas is None else replicas.rank
    saved_world_size = state.get("world_size", 1)
    if saved_world_size == world_size:
        restore_rng(state["rng_ranks"][rank] if world_size > 1 else state["rng"], trainer.device)
        return state["step"]
    if rank == 0:
        restore_rng(state["rng"], trainer.device)
        lr = trainer.players[0].optimizer.param_groups[0]["lr"]
        log.warning(
            "the checkpoint was written by %d process(es) and this run has %d: weights, "
            "optimizer, schedule, scaler and EMA carry on from step %d. The global batch is now "
            "%d instead of %d times data.batch_size x trainer.accumulate, and the lr stays the "
            "checkpoint's (%g for %s). The examples and noise from here on differ from an "
            "uninterrupted run's; resume with %d process(es) to continue it exactly",
            saved_world_size,
            world_size,
            state["step"],
            world_size,
            saved_world_size,
            lr,
            trainer.players[0].name,
            saved_world_size,
        )
    return state["step"]
