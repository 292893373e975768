"""`genopt sample RUN_DIR`: draw samples from a run's last checkpoint."""

import argparse
import logging
from pathlib import Path

import torch
from omegaconf import OmegaConf
from rich.console import Console

from genopt_cli.config.errors import GenoptError
from genopt_cli.config.validate import check_device
from genopt_cli.data import build_dataset
from genopt_cli.models import build_task
from genopt_cli.monitor.logs import setup_logging
from genopt_cli.train.checkpoint import load_checkpoint
from genopt_cli.train.run import resolve_device

log = logging.getLogger(__name__)


def parse(arguments: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="genopt sample", description="Draw samples from a finished run."
    )
    parser.add_argument("run_dir", type=Path, help="run folder with checkpoints/last.pt")
    parser.add_argument("--num", type=int, default=64, help="number of samples (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default RUN_DIR/samples)"
    )
    return parser.parse_args(arguments)


def command_sample(arguments: list[str]) -> None:
    args = parse(arguments)
    setup_logging(Console(stderr=True))
    if not args.run_dir.is_dir():
        raise GenoptError(f"run folder {args.run_dir} not found; pass a folder under outputs/")
    problems = [] if args.num >= 1 else [f"--num={args.num} must be at least 1"]
    check_device(problems, args.device, "fp32", key="--device")
    if problems:
        raise GenoptError(problems)
    state = load_checkpoint(args.run_dir / "checkpoints" / "last.pt")
    cfg = OmegaConf.create(state["config"])
    device = resolve_device(args.device)

    # A text model samples in the vocabulary it was trained with, which the checkpoint keeps.
    dataset = build_dataset(cfg.data, Path.cwd(), vocab=state.get("data", {}).get("vocab"))
    task = build_task(cfg.model, dataset).to(device)
    modules = {}
    for name, module in task.players.items():
        saved = state["ema"].get(name, {}).get("module") or state["players"][name]["module"]
        module.load_state_dict(saved)
        modules[name] = module.eval()
    weights = "EMA" if state["ema"] else "raw"
    torch.manual_seed(args.seed)
    samples = task.sample(modules, args.num)
    out = args.out or args.run_dir / "samples"
    path = task.save_samples(samples, out, f"sample-step{state['step']}-seed{args.seed}")
    log.info(
        "%d samples from step %d (%s weights) written to %s", args.num, state["step"], weights, path
    )
