"""The Hydra entry of `genopt train`: one call per run, several in a `-m` sweep."""

import json
import logging
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
    from genopt_cli.train.run import train

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    launch_dir = Path(hydra_cfg.runtime.cwd)
    # Without a terminal rich would wrap log lines at 80 columns, splitting paths and values.
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
    setup_logging(console, run_dir / "train.log")
    console.print(Syntax(OmegaConf.to_yaml(cfg, resolve=True), "yaml", theme="ansi_dark"))
    try:
        problems = validate(cfg)
        if problems:
            raise GenoptError(problems)
        summary = train(cfg, run_dir, launch_dir, console)
    except (GenoptError, NonFiniteLossError) as error:
        message = error.render() if isinstance(error, GenoptError) else f"error: {error}"
        log.error("%s", message.removeprefix("error: "))
        failed = {"status": "failed", "error": message}
        (run_dir / "summary.json").write_text(json.dumps(failed, indent=2) + "\n")
        if hydra_cfg.mode == RunMode.RUN:
            sys.exit(2)
        return None
    return summary["metrics"].get(summary["target_metric"])
