"""The Hydra entry of `genopt train`: one call per run, several in a `-m` sweep."""

import json
import logging
import math
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.syntax import Syntax

from genopt_cli.config import schema
from genopt_cli.config.errors import GenoptError
from genopt_cli.config.validate import validate
from genopt_cli.monitor.logs import setup_logging
from genopt_cli.train.loop import NonFiniteLossError

log = logging.getLogger(__name__)
schema.register()


@hydra.main(config_path="pkg://genopt_cli.configs", config_name="train", version_base=None)
def train_app(cfg: DictConfig) -> float | None:
    """Train one run; return its target metric, which Hydra sweepers minimise."""
    from genopt_cli.train import distributed
    from genopt_cli.train.run import train

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    launch_dir = Path(hydra_cfg.runtime.cwd)
    replicas = distributed.current()
    main = replicas is None or replicas.is_main
    # Without a terminal rich would wrap log lines at 80 columns, splitting paths and values.
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
    setup_logging(console, run_dir / "train.log", None if replicas is None else replicas.rank)
    if replicas is None and cfg.trainer.devices > 1:
        return run_on_devices(cfg, hydra_cfg, run_dir)
    if main:
        console.print(Syntax(OmegaConf.to_yaml(cfg, resolve=True), "yaml", theme="ansi_dark"))
    try:
        problems = validate(cfg)
        if problems:
            raise GenoptError(problems)
        summary = train(cfg, run_dir, launch_dir, console)
    except (GenoptError, NonFiniteLossError) as error:
        message = error.render() if isinstance(error, GenoptError) else f"error: {error}"
        if not main:
            # The processes agree on non-finite values, so rank 0 reports for all of them.
            if isinstance(error, GenoptError):
                log.error("%s", message.removeprefix("error: "))
            else:
                # Rank 0 writes the summary before any process exits and torchrun stops it.
                distributed.leave()
            sys.exit(2)
        log.error("%s", message.removeprefix("error: "))
        if replicas is not None and isinstance(error, NonFiniteLossError):
            write_failure(run_dir, message)
            distributed.leave()
        return record_failure(run_dir, message, hydra_cfg.mode)
    except Exception as error:
        message = f"error: {type(error).__name__}: {error}"
        if replicas is not None:
            # Each process logs its own failure with its rank, to the terminal and train.log.
            # A process whose peer failed first usually fails in a collective.
            log.exception(
                "run failed (in a data-parallel run, a failed collective usually means that "
                "another process failed first: see its messages)"
            )
            if main:
                write_failure(run_dir, message)
            sys.exit(1)
        # In a sweep one broken run must not stop the others: it is logged with its traceback
        # and recorded. A single run keeps the traceback on the terminal.
        if hydra_cfg.mode == RunMode.RUN:
            raise
        log.exception("run failed")
        return record_failure(run_dir, message, hydra_cfg.mode)
    if summary is None:
        return None
    return summary["metrics"].get(summary["target_metric"])


def run_on_devices(cfg: DictConfig, hydra_cfg, run_dir: Path) -> float | None:
    """Train this job in trainer.devices processes; return the target metric rank 0 wrote."""
    from genopt_cli.train.launch import launch_devices
    from genopt_cli.train.run import resume_command

    result = launch_devices(cfg.trainer.devices, list(hydra_cfg.overrides.task), run_dir)
    path = run_dir / "summary.json"
    summary = json.loads(path.read_text()) if path.is_file() else {}
    status = summary.get("status")
    if result.code == 0 and status in ("finished", "interrupted"):
        return summary.get("metrics", {}).get(summary.get("target_metric"))
    if status == "failed" and result.code != 0 and not result.killed:
        # The processes logged their errors, and rank 0 wrote the failure.
        if hydra_cfg.mode == RunMode.RUN:
            sys.exit(result.code)
        return math.inf
    if any((run_dir / "checkpoints").glob("*.pt")):
        command = resume_command(run_dir, Path(hydra_cfg.runtime.cwd))
        next_step = f"resume from its last checkpoint with: {command}"
    else:
        next_step = "no checkpoint was written, so start it again"
    failure = result.failure or "the processes stopped before the run finished"
    message = f"error: {failure}; {next_step}"
    log.error("%s", message.removeprefix("error: "))
    return record_failure(run_dir, message, hydra_cfg.mode, result.code or 1)


def write_failure(run_dir: Path, message: str) -> None:
    failed = {"status": "failed", "error": message}
    (run_dir / "summary.json").write_text(json.dumps(failed, indent=2) + "\n")


def record_failure(run_dir: Path, message: str, mode: RunMode, code: int = 2) -> float:
    """Write summary.json with status failed; exit with 2 outside a sweep.

    In a sweep the run's result is +inf, the worst value for the minimising sweepers, because
    the Optuna sweeper stops the whole study on a result that is None or NaN.
    """
    write_failure(run_dir, message)
    if mode == RunMode.RUN:
        sys.exit(code)
    return math.inf
