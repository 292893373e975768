"""Data-parallel training: one process per device, started by torchrun.

torchrun (or `trainer.devices=N`, which starts it) gives each process RANK, LOCAL_RANK,
WORLD_SIZE and a rendezvous in its environment. Each process then:

- joins one process group: NCCL for CUDA tensors and gloo for CPU tensors on a GPU run, gloo
  alone on a CPU run. Each update's agreement on non-finite values and stop requests
  (`gather_codes`) travels as a CPU tensor through gloo;
- wraps each player's module in DistributedDataParallel, which averages the gradients over the
  processes in the backward pass;
- reads its own shard of every step's examples (see genopt_cli.data.base);
- draws its own noise: rank 0 keeps the run's seed, so a one-process run is unchanged, and rank
  r > 0 reseeds from (seed, r) after the weights are built.

Rank 0 alone writes TensorBoard, checkpoints, samples and the summary; every rank logs its
warnings and errors prefixed with its rank.
"""

import datetime
import logging
import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from genopt_cli.config.errors import GenoptError

log = logging.getLogger(__name__)

# A collective waits this long for the other processes. Rank 0 evaluates and writes samples
# while the others wait at their next collective, so it must cover the longest evaluation.
TIMEOUT = datetime.timedelta(minutes=60)


def launched_by_torchrun() -> bool:
    """Return whether this process is one of a torchrun job (even a job of one process)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def local_world_size() -> int:
    return int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))


def planned_world_size(devices: int) -> int:
    """Return how many processes a run with trainer.devices=`devices` will have."""
    if launched_by_torchrun():
        return int(os.environ["WORLD_SIZE"])
    return devices


@dataclass(frozen=True)
class Replicas:
    """This process's place among the data-parallel processes, and what they agree on."""

    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, requested: torch.device) -> torch.device:
        """Return this process's device: CUDA device LOCAL_RANK on a GPU run."""
        if requested.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return requested

    def wrap(self, module: nn.Module, device: torch.device) -> DistributedDataParallel:
        """Wrap a player's module; its parameters and buffers become rank 0's.

        Buffers (batch-norm statistics, spectral norm's singular vectors) are broadcast from
        rank 0 at every forward pass, so all replicas normalise alike.
        """
        device_ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids)

    def gather_codes(self, code: int) -> list[int]:
        """Return every rank's small integer `code`, indexed by rank: one all-reduce of a CPU
        tensor, through gloo even on a GPU run."""
        codes = torch.zeros(self.world_size, dtype=torch.int32)
        codes[self.rank] = code
        dist.all_reduce(codes)
        return codes.tolist()

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        """Return the sum of `value` over the processes."""
        total = value.detach().clone()
        dist.all_reduce(total)
        return total

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """Return the element-wise mean of `values` over the processes."""
        return self.sum(values) / self.world_size

    def gather(self, value) -> list:
        """Return every rank's picklable `value`, indexed by rank."""
        values = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def broadcast(self, value):
        """Return rank 0's picklable `value` on every rank."""
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def current() -> Replicas | None:
    """Return this process's Replicas once it joined the process group, else None."""
    if not (dist.is_available() and dist.is_initialized()):
        return None
    return Replicas(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def backend_for(device: torch.device) -> str:
    return "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"


def join(device: torch.device) -> Replicas:
    """Join the process group that torchrun's environment describes; idempotent.

    `device` is the run's resolved device type (cuda or cpu), before the rank picks its index.
    """
    replicas = current()
    if replicas is not None:
        return replicas
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise GenoptError(
                f"LOCAL_RANK={local_rank} but this machine shows {torch.cuda.device_count()} "
                "CUDA devices; start at most that many processes per node "
                "(--nproc_per_node or trainer.devices)"
            )
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend_for(device), timeout=TIMEOUT)
    return current()


def leave(wait: bool = True) -> None:
    """Leave the process group; with `wait`, first wait for every process (rank 0 may still be
    evaluating), so that all leave together.

    A gloo process that leaves while a peer still keeps its connections open can abort in its
    destructor. After an error the others may never arrive, so `wait=False` leaves at once.
    """
    if dist.is_available() and dist.is_initialized():
        try:
            if wait:
                dist.barrier()
        finally:
            dist.destroy_process_group()


def seed_replica(seed: int, replicas: Replicas | None) -> None:
    """Give rank r > 0 its own random streams, drawn from (seed, r); rank 0 keeps the run's.

    Called after the weights are built, so every rank starts from the same weights.
    """
    if replicas is None or replicas.rank == 0:
        return
    replica_seed = (seed * 1_000_003 + replicas.rank) % 2**32
    random.seed(replica_seed)
    np.random.seed(replica_seed)
    torch.manual_seed(replica_seed)
