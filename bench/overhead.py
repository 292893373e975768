"""Time genopt's training step against a hand-written PyTorch loop, per model family.

Both loops drive the same module, optimizer and schedule objects on the same batches, built by
genopt's own run-building functions (genopt_cli.train.run) from `model=FAMILY` with its recipe.
The genopt side is Trainer.train_step plus Trainer.collect every trainer.log_every steps, as in
`genopt train` without the progress bar, checkpoints and evaluation. The plain side is the loop
a person would write: zero the gradients, loss, backward, and clipping where the recipe clips.
Then it steps the optimizer and schedule, updates the EMA where the recipe has one, and reads
the loss back every log_every steps. Both get the task's loss function, so only the harness
around it differs.

    python bench/overhead.py [--quick] [--families vae gan ddpm transformer]
"""

import argparse
import statistics
from collections.abc import Callable

import torch
from benchlib import calibrate, machine_line, markdown_table, paired_ratio, time_interleaved

from genopt_cli.config.compose import compose_config
from genopt_cli.data import build_dataset
from genopt_cli.models import build_task
from genopt_cli.train.loop import Trainer
from genopt_cli.train.run import build_players, seed_everything

FAMILIES = ("vae", "gan", "ddpm", "transformer")


def build_trainer(
    family: str, overrides: list[str], device: str = "cpu", dataset=None
) -> tuple[Trainer, int]:
    """Build the family's Trainer as `genopt train` does; return it and log_every.

    `dataset` replaces the config's data set where given, such as random images of a larger size.
    """
    cfg = compose_config([f"model={family}", f"trainer.device={device}", *overrides])
    device = torch.device(device)
    seed_everything(cfg.trainer.seed)
    if dataset is None:
        dataset = build_dataset(cfg.data, None)
    task = build_task(cfg.model, dataset)
    task.to(device)
    players = build_players(cfg, task, device)
    step_size = cfg.data.batch_size * cfg.trainer.accumulate
    batches = task.make_batches(dataset, step_size, cfg.trainer.seed)
    trainer = Trainer(task, players, batches, cfg.trainer.accumulate, cfg.trainer.precision, device)
    return trainer, cfg.trainer.log_every


def genopt_run(trainer: Trainer, log_every: int) -> Callable[[int], None]:
    """Return run(n): n more steps of Trainer.train_step, collecting metrics as a run does."""
    position = {"step": 0}

    def run(n: int) -> None:
        for _ in range(n):
            step = position["step"]
            log_now = (step + 1) % log_every == 0
            trainer.train_step(step, log_now)
            if log_now:
                trainer.collect(step)
            position["step"] = step + 1

    return run


def plain_run(trainer: Trainer, log_every: int) -> Callable[[int], None]:
    """Return run(n): n more steps of a hand-written loop over the trainer's own objects."""
    if trainer.accumulate != 1 or trainer.precision != "fp32":
        raise ValueError("the hand-written loop covers accumulate=1 and fp32 only")
    task, batches = trainer.task, trainer.batches
    modules = [player.module for player in trainer.players]
    ema_tensors = {}
    for player in trainer.players:
        if player.ema is not None:
            live = [t for t in player.module.state_dict().values() if t.is_floating_point()]
            copy = [t for t in player.ema.module.state_dict().values() if t.is_floating_point()]
            ema_tensors[player.name] = (copy, live, 1.0 - player.ema.decay)
    position = {"step": 0}

    def run(n: int) -> None:
        for _ in range(n):
            step = position["step"]
            batch = batches.batch(step)
            for player in trainer.players:
                if len(modules) > 1:
                    for module in modules:
                        module.requires_grad_(module is player.module)
                player.optimizer.zero_grad(set_to_none=True)
                loss, _ = task.loss(player.name, batch, step)
                loss.backward()
                if player.clip_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(player.parameters, player.clip_grad_norm)
                player.optimizer.step()
                player.schedule.step()
                if player.name in ema_tensors:
                    copy, live, weight = ema_tensors[player.name]
                    with torch.no_grad():
                        torch._foreach_lerp_(copy, live, weight)
                if (step + 1) % log_every == 0:
                    loss.item()
            position["step"] = step + 1

    return run


def measure(family: str, quick: bool, overrides: list[str], clock: str) -> list[str]:
    """Time both loops on `family`; return its Markdown row."""
    trainer, log_every = build_trainer(family, overrides)
    runs = {"genopt": genopt_run(trainer, log_every), "plain": plain_run(trainer, log_every)}
    for run in runs.values():
        run(10)  # first-call costs (allocations, optimizer state) stay out of the timings
    steps = calibrate(runs["plain"], 0.3 if quick else 0.6)
    timings = time_interleaved(runs, steps, 7 if quick else 25, clock)
    genopt_ms = statistics.median(timings["genopt"]) * 1e3
    plain_ms = statistics.median(timings["plain"]) * 1e3
    ratio = paired_ratio(timings["genopt"], timings["plain"])
    rounds = len(timings["genopt"])
    return [family, f"{plain_ms:.2f}", f"{genopt_ms:.2f}", f"{ratio:.3f}", f"{rounds} x {steps}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="7 rounds of about 0.3 s each")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        help="extra config override for every family, such as data.batch_size=8 (repeatable)",
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time, or the process's CPU time (steadier on a busy machine with "
        "OMP_NUM_THREADS=1)",
    )
    args = parser.parse_args()

    rows = [measure(family, args.quick, args.override, args.clock) for family in args.families]
    print(machine_line() + f", {args.clock} clock")
    header = ["family", "plain ms/step", "genopt ms/step", "genopt / plain", "rounds x steps"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
