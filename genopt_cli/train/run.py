"""One training run: build everything from the composed config, train, evaluate, save."""

import json
import logging
import random
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from genopt_cli.data import build_dataset
from genopt_cli.models import build_task
from genopt_cli.monitor.progress import TrainingProgress
from genopt_cli.monitor.summary import print_summary
from genopt_cli.monitor.tensorboard import TensorBoardSink
from genopt_cli.optim import build_optimizer, build_schedule, player_optimizer_config
from genopt_cli.train.checkpoint import save_atomic
from genopt_cli.train.ema import EMA
from genopt_cli.train.finetune import (
    add_lora,
    initial_vocab,
    load_initial_state,
    load_initial_weights,
    merged_state_dict,
)
from genopt_cli.train.loop import Player, Trainer
from genopt_cli.train.precision import make_scaler

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def player_setting(cfg: DictConfig, player: str, key: str):
    """players.PLAYER.KEY where set, else trainer.KEY."""
    if player in cfg.players and cfg.players[player][key] is not None:
        return cfg.players[player][key]
    return cfg.trainer[key]


def build_players(cfg: DictConfig, task, device: torch.device) -> list[Player]:
    players = []
    for name, module in task.players.items():
        optimizer_cfg = player_optimizer_config(cfg, name)
        optimizer = build_optimizer(optimizer_cfg, module, name)
        schedule = build_schedule(optimizer, cfg.schedule, cfg.trainer.max_steps, optimizer_cfg.lr)
        ema = None
        if cfg.trainer.ema.decay is not None and name == task.ema_player:
            ema = EMA(module, cfg.trainer.ema.decay, cfg.trainer.ema.warmup)
        players.append(
            Player(
                name=name,
                module=module,
                optimizer=optimizer,
                schedule=schedule,
                clip_grad_norm=player_setting(cfg, name, "clip_grad_norm"),
                clip_grad_value=player_setting(cfg, name, "clip_grad_value"),
                scaler=make_scaler(cfg.trainer.precision, device),
                ema=ema,
            )
        )
        count = sum(p.numel() for p in module.parameters())
        trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
        log.info("player %s: %s parameters, %s trainable", name, f"{count:,}", f"{trainable:,}")
    return players


def checkpoint_state(cfg: DictConfig, trainer: Trainer, step: int, dataset=None) -> dict:
    """Return the run's state, with the weights that evaluation uses.

    A schedule-free optimizer is put in eval mode first, so the saved module contains its
    averaged weights, which `genopt sample` and `init_from` load. Its optimizer state keeps what
    train mode needs. LoRA adapters are merged into the saved weights. A text data set's
    vocabulary is saved too.
    """
    with trainer.evaluation_weights():
        state = _copy_state(_checkpoint_state(cfg, trainer, step))
    state["data"] = {"vocab": list(dataset.vocab)} if hasattr(dataset, "vocab") else {}
    return state


def _copy_state(state):
    """Clone every tensor, so that switching back to train mode leaves the saved state alone."""
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, dict):
        return {key: _copy_state(value) for key, value in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(_copy_state(value) for value in state)
    return state


def _checkpoint_state(cfg: DictConfig, trainer: Trainer, step: int) -> dict:
    state = {
        "format": 1,
        "step": step,
        "config": OmegaConf.to_yaml(cfg, resolve=True),
        "players": {},
        "ema": {},
    }
    for player in trainer.players:
        state["players"][player.name] = {
            "module": merged_state_dict(player.module),
            "optimizer": player.optimizer.state_dict(),
            "schedule": player.schedule.state_dict(),
        }
        if player.scaler is not None:
            state["players"][player.name]["scaler"] = player.scaler.state_dict()
        if player.ema is not None:
            ema = player.ema.state_dict()
            state["ema"][player.name] = {**ema, "module": merged_state_dict(player.ema.module)}
    return state


def progress_status(values: dict[str, float], players: list[Player]) -> str:
    """Format the latest losses and lrs, labelled by player where there are several."""
    if len(players) == 1:
        name = players[0].name
        return f"loss {values['train/loss']:.4f} lr {values[f'optim/lr/{name}']:.2e}"
    parts = [
        f"{p.name} loss {values[f'train/loss/{p.name}']:.4f} lr {values[f'optim/lr/{p.name}']:.2e}"
        for p in players
    ]
    return "  ".join(parts)


def evaluate_and_sample(cfg, task, trainer, dataset, sink, run_dir: Path, step: int) -> dict:
    """Evaluate on the validation split and write a sample file, with the EMA weights if on.

    Schedule-free optimizers switch to their averaged weights for it.

    The global random state is forked, so evaluation does not change the training's numbers.
    """
    modules = trainer.sampling_modules()
    for module in task.players.values():
        module.eval()
    devices = [task.device] if task.device.type == "cuda" else []
    with trainer.evaluation_weights(), torch.random.fork_rng(devices=devices):
        torch.manual_seed(cfg.trainer.seed)
        metrics = task.evaluate(modules, dataset)
        metrics.update(task.quality(modules, dataset))
        samples = task.sample(modules, cfg.trainer.num_samples)
    for module in task.players.values():
        module.train()
    # Scalars go at the index of the last update, the x-axis position of that update's loss.
    sink.scalars(metrics, step - 1)
    path = task.save_samples(samples, run_dir / "samples", f"step-{step:06d}")
    loggable = task.loggable_samples(samples)
    if "image" in loggable:
        sink.image("samples", loggable["image"], step - 1)
    if "text" in loggable:
        sink.text("samples", loggable["text"], step - 1)
    log.info(
        "step %d: %s; samples in %s",
        step,
        ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()),
        path,
    )
    return metrics


def train(cfg: DictConfig, run_dir: Path, launch_dir: Path, console: Console) -> dict:
    """Train the composed config in `run_dir`; return the summary written to summary.json."""
    started = time.perf_counter()
    device = resolve_device(cfg.trainer.device)
    seed_everything(cfg.trainer.seed)
    log.info("run folder %s, device %s", run_dir, device)
    if device.type == "cpu" and cfg.trainer.precision == "fp16":
        log.warning(
            "trainer.precision=fp16 on a CPU: autocast to float16 runs far slower than fp32 "
            "there (about 15 times for the VAE); use trainer.precision=bf16 or fp32"
        )

    initial = load_initial_state(cfg, launch_dir)
    dataset = build_dataset(cfg.data, launch_dir, vocab=initial_vocab(initial))
    task = build_task(cfg.model, dataset)
    if initial is not None:
        load_initial_weights(cfg, initial, task.players)
    if cfg.trainer.lora.rank is not None:
        for name, module in task.players.items():
            task.players[name] = add_lora(module, cfg.trainer.lora, name)
    task.to(device)
    players = build_players(cfg, task, device)
    task.scalers = {p.name: p.scaler for p in players if p.scaler is not None}
    step_size = cfg.data.batch_size * cfg.trainer.accumulate
    batches = task.make_batches(dataset, step_size, cfg.trainer.seed)
    trainer = Trainer(task, players, batches, cfg.trainer.accumulate, cfg.trainer.precision, device)
    sink = TensorBoardSink(run_dir / "tb")
    max_steps, log_every = cfg.trainer.max_steps, cfg.trainer.log_every
    checkpoint_every, eval_every = cfg.trainer.checkpoint_every, cfg.trainer.eval_every
    checkpoint_path = run_dir / "checkpoints" / "last.pt"

    train_started = time.perf_counter()
    with TrainingProgress(console, max_steps) as progress:
        for step in range(max_steps):
            done = step + 1
            log_now = done % log_every == 0 or done == max_steps
            trainer.train_step(step, log_now)
            progress.update(done)
            if log_now:
                values = trainer.collect(step)
                sink.scalars(values, step)
                progress.report(done, progress_status(values, players))
            if checkpoint_every is not None and done % checkpoint_every == 0 and done < max_steps:
                save_atomic(checkpoint_state(cfg, trainer, done, dataset), checkpoint_path)
            if eval_every is not None and done % eval_every == 0 and done < max_steps:
                evaluate_and_sample(cfg, task, trainer, dataset, sink, run_dir, done)
    train_seconds = time.perf_counter() - train_started

    save_atomic(checkpoint_state(cfg, trainer, max_steps, dataset), checkpoint_path)
    metrics = evaluate_and_sample(cfg, task, trainer, dataset, sink, run_dir, max_steps)
    sink.close()
    summary = {
        "status": "finished",
        "steps": max_steps,
        "wall_time_s": round(time.perf_counter() - started, 3),
        "train_time_s": round(train_seconds, 3),
        "steps_per_s": round(max_steps / train_seconds, 3),
        "target_metric": task.target_metric,
        "metrics": {**sink.last, **metrics},
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print_summary(console, summary)
    return summary
