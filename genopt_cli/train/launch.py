"""Starting data-parallel processes: `genopt train` under torchrun, and `trainer.devices=N`.

Under torchrun every process runs `genopt train` with the same command line. Before Hydra makes
a run folder, the processes join the process group and take rank 0's folder. So the run has one
folder, and only rank 0 writes Hydra's .hydra/ files there.

With `trainer.devices=N` and no torchrun around, the Hydra job makes the run folder and then
starts N processes through torch's elastic launcher (the engine of torchrun) with a rendezvous on
a free port of 127.0.0.1. They run the job's own overrides in that folder. Each job of a sweep,
including a SLURM job of `hydra/launcher=slurm`, starts its own processes this way.
"""

import logging
import os
import signal
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from genopt_cli.train import distributed

log = logging.getLogger(__name__)

# Set in the processes that `trainer.devices=N` starts, so they print a `genopt train` resume
# command rather than a torchrun one.
LAUNCHED_BY_GENOPT = "GENOPT_DEVICES_LAUNCH"
# Seconds the processes get to finish their step and save after a stop signal reaches the
# launcher, before it kills them.
SHUTDOWN_SECONDS = 300


def quote(path: Path | str) -> str:
    """Quote a path as a Hydra override value."""
    return "'" + str(path).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _chosen(overrides: list[str], key: str) -> str | None:
    values = [o.split("=", 1)[1].strip("'\"") for o in overrides if o.startswith(key + "=")]
    return values[-1] if values else None


def join_torchrun(arguments: list[str]) -> list[str]:
    """Join the process group of this torchrun job; return the command line with rank 0's run
    folder (and, on the other ranks, no .hydra/ output)."""
    from genopt_cli.config.compose import compose_config, compose_run_dir
    from genopt_cli.config.resume import split_flags
    from genopt_cli.train.run import resolve_device

    flags, overrides = split_flags(arguments)
    cfg = compose_config(overrides)
    replicas = distributed.join(resolve_device(cfg.trainer.device))
    run_dir = None
    if replicas.is_main:
        run_dir = _chosen(overrides, "hydra.run.dir") or compose_run_dir(overrides)
        run_dir = os.path.abspath(run_dir)
    run_dir = replicas.broadcast(run_dir)
    extra = [f"hydra.run.dir={quote(run_dir)}"]
    if not replicas.is_main and _chosen(overrides, "hydra.output_subdir") is None:
        extra.append("hydra.output_subdir=null")
    return [*flags, *overrides, *extra]


def resume_hint(run_dir: str) -> str:
    """Return the command that resumes a run of this process's kind."""
    if distributed.launched_by_torchrun() and LAUNCHED_BY_GENOPT not in os.environ:
        nodes = int(os.environ["WORLD_SIZE"]) // distributed.local_world_size()
        options = f"--nproc_per_node={distributed.local_world_size()}"
        if nodes > 1:
            options = f"--nnodes={nodes} {options} --rdzv-backend=c10d --rdzv-endpoint=HOST:PORT"
        return f"torchrun {options} -m genopt_cli train resume={run_dir}"
    return f"genopt train resume={run_dir}"


@dataclass
class LaunchResult:
    """The outcome of the processes of a `trainer.devices=N` run."""

    # The exit code for this command: 0, or the first failed process's (1 if a signal killed it).
    code: int = 0
    # What went wrong, if anything: the first process that failed, or the launcher's signal.
    failure: str | None = None
    # Whether a signal killed a process, which then had no chance to report.
    killed: bool = False


def launch_devices(devices: int, overrides: list[str], run_dir: Path) -> LaunchResult:
    """Run `genopt train OVERRIDES` in `devices` processes in `run_dir`.

    The caller reads summary.json for whether the processes saved.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    # torch's launcher logs every worker's start and failure; the workers report for themselves.
    logging.getLogger("torch.distributed").setLevel(logging.CRITICAL)
    environment = {LAUNCHED_BY_GENOPT: "1"}
    if "OMP_NUM_THREADS" not in os.environ:
        environment["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // devices))
    os.environ.update(environment)
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=devices,
        run_id=str(uuid.uuid4()),
        rdzv_backend="c10d",
        rdzv_endpoint="127.0.0.1:0",
        max_restarts=0,
        monitor_interval=0.2,
        shutdown_timeout=SHUTDOWN_SECONDS,
    )
    arguments = [*overrides, f"hydra.run.dir={quote(run_dir)}", "hydra.output_subdir=null"]
    log.info("starting %d processes with torch's elastic launcher (torchrun)", devices)
    try:
        elastic_launch(config, sys.executable)("-m", "genopt_cli", "train", *arguments)
    except ChildFailedError as error:
        rank, failure = error.get_first_failure()
        if failure.exitcode < 0:
            name = signal.Signals(-failure.exitcode).name
            return LaunchResult(1, f"the process of rank {rank} was killed by {name}", True)
        return LaunchResult(failure.exitcode, f"the process of rank {rank} failed")
    except SignalException as error:
        return LaunchResult(0, f"{error.sigval.name} stopped the processes")
    return LaunchResult()
