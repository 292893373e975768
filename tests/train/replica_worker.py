"""Processes of the in-process data-parallel tests, started by torch.multiprocessing.spawn.

Each process joins a gloo group on 127.0.0.1, runs every scenario's steps through the same
Trainer that `genopt train` builds, and after every step compares its parameters with every
other rank's. Rank 0 saves the results and its final parameters for the test to check.
"""

import os

import torch
import torch.distributed as dist
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

from genopt_cli.train import distributed
from genopt_cli.train.state import checkpoint_state
from tests.train.conftest import make_trainer


class AllReduceCounter:
    """The state of counting_hook: how many bucket all-reduces ran."""

    def __init__(self) -> None:
        self.calls = 0


def counting_hook(state: AllReduceCounter, bucket):
    """A DDP communication hook that counts the bucket all-reduces, then runs the default one."""
    state.calls += 1
    return allreduce_hook(None, bucket)


def _flat_parameters(trainer) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for pl in trainer.players for p in pl.parameters])


def run_scenario(
    replicas,
    model: str,
    overrides: list[str],
    steps: int,
    rank_zero_round_trip_only: bool | None = None,
) -> dict:
    cfg, trainer = make_trainer(model, *overrides, replicas=replicas)
    distributed.seed_replica(cfg.trainer.seed, replicas)
    counters = {}
    for name, wrapper in trainer.task.train_modules.items():
        counters[name] = AllReduceCounter()
        wrapper.register_comm_hook(counters[name], counting_hook)
    gaps = []
    for step in range(steps):
        trainer.train_step(step, log_now=step == steps - 1)
        if rank_zero_round_trip_only is not None and (
            replicas.is_main or not rank_zero_round_trip_only
        ):
            # What `genopt train` does at a checkpoint: every rank builds the state, which
            # moves a schedule-free optimizer's weights to their average and back.
            checkpoint_state(cfg, trainer, step + 1)
        flat = _flat_parameters(trainer)
        gathered = [torch.empty_like(flat) for _ in range(replicas.world_size)]
        dist.all_gather(gathered, flat)
        gaps.append(max((other - gathered[0]).abs().max().item() for other in gathered))
    values = trainer.collect(steps - 1)
    return {
        "gaps": gaps,
        "allreduces": {name: counter.calls for name, counter in counters.items()},
        "parameters": {
            f"{pl.name}.{n}": p.detach().clone()
            for pl in trainer.players
            for n, p in zip(pl.parameter_names, pl.parameters, strict=True)
        },
        "values": values,
        "base_lrs": trainer.players[0].schedule.base_lrs,
    }


def worker(rank: int, world_size: int, port: int, out: str, scenarios: dict) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_WORLD_SIZE=str(world_size),
    )
    torch.set_num_threads(1)
    replicas = distributed.join(torch.device("cpu"))
    try:
        results = {name: run_scenario(replicas, *scenario) for name, scenario in scenarios.items()}
        if rank == 0:
            torch.save(results, out)
    except BaseException:
        distributed.leave(wait=False)
        raise
    distributed.leave()
