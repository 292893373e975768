"""One training run: build everything from the composed config, train, evaluate, save."""

import json
import logging
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from rich.console import Console
from torch import nn

from genopt_cli.config.errors import GenoptError
from genopt_cli.data import build_dataset, check_dataset_size
from genopt_cli.models import build_task
from genopt_cli.monitor.health import HealthMonitor
from genopt_cli.monitor.progress import TrainingProgress
from genopt_cli.monitor.summary import print_summary
from genopt_cli.monitor.tensorboard import TensorBoardSink, run_hparams
from genopt_cli.optim import build_optimizer, build_schedule, player_optimizer_config
from genopt_cli.train import distributed
from genopt_cli.train.checkpoint import load_checkpoint, save_checkpoint, step_checkpoints
from genopt_cli.train.distributed import Replicas
from genopt_cli.train.ema import EMA
from genopt_cli.train.finetune import (
    add_lora,
    initial_vocab,
    load_initial_state,
    load_initial_weights,
)
from genopt_cli.train.launch import resume_hint
from genopt_cli.train.loop import Player, Trainer
from genopt_cli.train.precision import make_scaler
from genopt_cli.train.signals import StopSignals
from genopt_cli.train.state import checkpoint_state, gather_rng, restore_training_state

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


# optimizer.lr_scaling: the factor of every lr for a run on N processes. The recipes' lrs are
# tuned for one process; the global batch is N times larger. Linear: Goyal et al., 2017,
# "Accurate, Large Minibatch SGD"; square root: Krizhevsky, 2014, "One weird trick for
# parallelizing convolutional neural networks", often used with Adam.
LR_SCALING = {"none": lambda n: 1.0, "linear": float, "sqrt": math.sqrt}


def lr_factor(cfg: DictConfig, world_size: int) -> float:
    return LR_SCALING[cfg.optimizer.get("lr_scaling", "none")](world_size)


def build_players(
    cfg: DictConfig, task, device: torch.device, lr_scale: float = 1.0
) -> list[Player]:
    players = []
    for name, module in task.players.items():
        optimizer_cfg = player_optimizer_config(cfg, name)
        optimizer_cfg.lr = optimizer_cfg.lr * lr_scale
        optimizer = build_optimizer(optimizer_cfg, module, name)
        schedule = build_schedule(optimizer, cfg.schedule, cfg.trainer.max_steps, optimizer_cfg.lr)
        ema = None
        if cfg.trainer.ema.decay is not None and name == task.ema_player:
            ema = EMA(module, cfg.trainer.ema.decay, cfg.trainer.ema.warmup)
        if cfg.trainer.compile:
            # In place, so parameter names, checkpoints and the EMA copy keep the module's keys.
            module.compile()
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


def build_trainer(
    cfg: DictConfig, task, dataset, device: torch.device, replicas: Replicas | None = None
) -> Trainer:
    """Build the players and the batch stream of a task already on `device`.

    Under data parallelism (`replicas`) each player's module is wrapped in
    DistributedDataParallel for the loss (task.train_modules), and the batch stream serves this
    rank's shard of each step's global batch. A job of one process (torchrun
    --nproc_per_node=1) trains as a plain run: DDP would only copy every gradient through a
    bucket (a third more time per VAE step on the CPU).
    """
    if replicas is not None and replicas.world_size == 1:
        replicas = None
    world_size = 1 if replicas is None else replicas.world_size
    if replicas is not None and cfg.trainer.sync_batchnorm:
        # The converted modules keep the same parameter objects and state-dict keys.
        for name, module in task.players.items():
            task.players[name] = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    players = build_players(cfg, task, device, lr_factor(cfg, world_size))
    if replicas is not None:
        task.train_modules = {p.name: replicas.wrap(p.module, device) for p in players}
    task.scalers = {p.name: p.scaler for p in players if p.scaler is not None}
    # Update k of a player with several updates per step reads slice k of the step's batch.
    slices = max(task.updates_per_step.values(), default=1)
    step_size = cfg.data.batch_size * cfg.trainer.accumulate * slices
    batches = task.make_batches(dataset, step_size * world_size, cfg.trainer.seed)
    if replicas is not None:
        batches.shard(replicas.rank, world_size)
    return Trainer(
        task,
        players,
        batches,
        cfg.trainer.accumulate,
        cfg.trainer.precision,
        device,
        on_nonfinite=cfg.trainer.on_nonfinite,
        max_skips_in_a_row=cfg.trainer.max_skips_in_a_row,
        replicas=replicas,
    )


def processes(count: int) -> str:
    return f"{count} process" if count == 1 else f"{count} processes"


def log_global_batch(cfg: DictConfig, world_size: int) -> None:
    batch, accumulate = cfg.data.batch_size, cfg.trainer.accumulate
    rule = cfg.optimizer.get("lr_scaling", "none")
    if rule == "none":
        lr_note = (
            f"lr as configured (optimizer.lr_scaling=none; the linear rule would multiply it "
            f"by {world_size}, the square-root rule by {math.sqrt(world_size):.3g})"
        )
    else:
        lr_note = f"lr multiplied by {lr_factor(cfg, world_size):.3g} (optimizer.lr_scaling={rule})"
    log.info(
        "global batch %d = %s x data.batch_size %d x trainer.accumulate %d; %s",
        world_size * batch * accumulate,
        processes(world_size),
        batch,
        accumulate,
        lr_note,
    )


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


def load_resume_state(run_dir: Path) -> dict:
    """Read the run's last checkpoint, or its newest readable step checkpoint."""
    directory = run_dir / "checkpoints"
    candidates = [directory / "last.pt"] + [p for _, p in reversed(step_checkpoints(directory))]
    problems = []
    for path in candidates:
        if not path.is_file():
            continue
        try:
            state = load_checkpoint(path)
        except GenoptError as error:
            problems.extend(error.problems)
            continue
        for problem in problems:
            log.warning("%s; using %s instead", problem, path.name)
        log.info("resuming from %s at step %d", path, state["step"])
        return state
    raise GenoptError(
        problems
        or [f"resume={run_dir} has no checkpoint in {directory}; start a new run without resume"]
    )


def resume_command(run_dir: Path, launch_dir: Path) -> str:
    try:
        relative = run_dir.resolve().relative_to(launch_dir.resolve())
    except ValueError:
        relative = run_dir
    return resume_hint(str(relative))


def stop_agreed(stop: StopSignals, trainer: Trainer) -> bool:
    """Return whether to stop after this step: on a signal to any process, all stop at once.

    The processes share their requests in each update's agreement (Trainer._agree), so this
    check costs no collective of its own.
    """
    if trainer.replicas is None:
        return stop.requested is not None
    return trainer.stop_agreed


def write_summary(run_dir: Path, summary: dict) -> None:
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def train(cfg: DictConfig, run_dir: Path, launch_dir: Path, console: Console) -> dict:
    """Train the composed config in `run_dir`; return the summary written to summary.json.

    With `resume` set, `run_dir` is the resumed run's folder and training continues from its
    last checkpoint. SIGINT or SIGTERM stops after the current step and saves.

    In a data-parallel run every process calls this; rank 0 alone writes TensorBoard,
    checkpoints, samples and the summary, and the others return None.
    """
    started = time.perf_counter()
    replicas = distributed.current()
    main = replicas is None or replicas.is_main
    device = resolve_device(cfg.trainer.device)
    if replicas is not None:
        device = replicas.device(device)
    seed_everything(cfg.trainer.seed)
    log.info("run folder %s, device %s", run_dir, device)
    world_size = 1 if replicas is None else replicas.world_size
    if replicas is not None:
        log_global_batch(cfg, world_size)
    if device.type == "cpu" and cfg.trainer.precision == "fp16":
        log.warning(
            "trainer.precision=fp16 on a CPU: autocast to float16 runs far slower than fp32 "
            "there (about 15 times for the VAE); use trainer.precision=bf16 or fp32"
        )

    resumed = load_resume_state(run_dir) if cfg.resume is not None else None
    initial = load_initial_state(cfg, launch_dir) if resumed is None else None
    vocab = initial_vocab(resumed if resumed is not None else initial)
    dataset = build_dataset(cfg.data, launch_dir, vocab=vocab)
    check_dataset_size(cfg, dataset, 1 if replicas is None else replicas.world_size)
    task = build_task(cfg.model, dataset)
    task.eval_samples = cfg.trainer.eval_samples
    if initial is not None:
        load_initial_weights(cfg, initial, task.players)
    if cfg.trainer.lora.rank is not None:
        for name, module in task.players.items():
            task.players[name] = add_lora(module, cfg.trainer.lora, name)
    if cfg.trainer.activation_checkpointing:
        task.enable_activation_checkpointing()
    task.to(device)
    trainer = build_trainer(cfg, task, dataset, device, replicas)
    distributed.seed_replica(cfg.trainer.seed, replicas)
    players = trainer.players
    start = restore_training_state(resumed, trainer, replicas) if resumed is not None else 0
    max_steps, log_every = cfg.trainer.max_steps, cfg.trainer.log_every
    checkpoint_every, eval_every = cfg.trainer.checkpoint_every, cfg.trainer.eval_every
    checkpoints, keep = run_dir / "checkpoints", cfg.trainer.keep_checkpoints

    def save(step: int) -> None:
        # Every process hands in its random state and builds the state, and rank 0 writes it.
        # Building it switches a schedule-free optimizer to its averaged weights and back, which
        # changes the weights by rounding, so every process must make the same switches.
        rng = gather_rng(device, replicas)
        state = checkpoint_state(cfg, trainer, step, dataset, rng)
        if main:
            save_checkpoint(state, checkpoints, keep)

    if main:
        # On resume, TensorBoard drops what the stopped run logged after its checkpoint.
        sink = TensorBoardSink(run_dir / "tb", purge_step=start if resumed is not None else None)
        health = HealthMonitor.from_config(cfg, [p.name for p in players], run_dir / "health.json")
        health.check_config(cfg)

    train_started = time.perf_counter()
    done = start
    with StopSignals() as stop, TrainingProgress(console, max_steps, start, bar=main) as progress:
        trainer.stop_requested = lambda: stop.requested is not None
        for step in range(start, max_steps):
            done = step + 1
            log_now = done % log_every == 0 or done == max_steps
            trainer.train_step(step, log_now)
            progress.update(done)
            if log_now:
                # A collective under data parallelism: the means over all processes.
                values = trainer.collect(step)
                if main:
                    sink.scalars(values, step)
                    health.observe(step, values)
                    progress.report(done, progress_status(values, players))
            if stop_agreed(stop, trainer):
                break
            if checkpoint_every is not None and done % checkpoint_every == 0 and done < max_steps:
                save(done)
            if eval_every is not None and done % eval_every == 0 and done < max_steps:
                if main:
                    metrics = evaluate_and_sample(cfg, task, trainer, dataset, sink, run_dir, done)
                    health.observe_eval(step, metrics)
                else:
                    # The same round trip through the evaluation weights as rank 0's (see save).
                    with trainer.evaluation_weights():
                        pass
    train_seconds = time.perf_counter() - train_started
    save(done)
    if not main:
        return None

    summary = {
        "status": "finished",
        "steps": done,
        "wall_time_s": round(time.perf_counter() - started, 3),
        "train_time_s": round(train_seconds, 3),
        "steps_per_s": round((done - start) / train_seconds, 3) if done > start else None,
        "target_metric": task.target_metric,
        "processes": world_size,
        "global_batch": world_size * cfg.data.batch_size * cfg.trainer.accumulate,
    }
    if done < max_steps:
        sink.close()
        command = resume_command(run_dir, launch_dir)
        summary.update(status="interrupted", metrics=dict(sink.last), resume=command)
        write_summary(run_dir, summary)
        by = stop.requested or "a signal to another process"
        log.warning("stopped at step %d of %d by %s; resume with:", done, max_steps, by)
        console.print(command, markup=False, highlight=False, soft_wrap=True)
        return summary

    metrics = evaluate_and_sample(cfg, task, trainer, dataset, sink, run_dir, max_steps)
    health.observe_eval(max_steps - 1, metrics)
    sink.hparams(run_hparams(cfg, run_dir, world_size), {**sink.last, **metrics})
    sink.close()
    summary["metrics"] = {**sink.last, **metrics}
    write_summary(run_dir, summary)
    print_summary(console, summary)
    return summary
