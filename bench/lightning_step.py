"""Time genopt's training step against PyTorch Lightning's on the same model and optimizer.

Needs the `lightning` package, which genopt does not depend on: bench/run.sh installs it into
bench/.venv (see bench/requirements.txt). For each family, one task, optimizer and schedule are
built by genopt's run-building functions, as in bench/overhead.py. A LightningModule returns the
task's loss from training_step and hands Lightning the same optimizer and schedule, with the
recipe's gradient clipping and EMA update, and batches come from the same stream. Rounds
alternate a timing of genopt's Trainer.train_step with a Lightning Trainer.fit of the same
number of steps. A callback times Lightning's steps after its first one, so fit's set-up stays
out of the figure.

Lightning runs without logger, checkpoints, progress bar or model summary, and logs the loss
every log_every steps, so neither side does work the other skips. Only one-player families
(vae, ddpm, transformer) are covered: the GAN needs Lightning's manual optimization.

    bench/.venv/bin/python bench/lightning_step.py [--quick] [--families vae transformer]
"""

import argparse
import logging
import statistics
import time
import warnings

import lightning as L
import torch
from benchlib import calibrate, machine_line, markdown_table
from overhead import build_trainer, genopt_run

from genopt_cli.train.loop import Trainer

FAMILIES = ("vae", "ddpm", "transformer")


class BatchStream(torch.utils.data.IterableDataset):
    """The step batches of a genopt batch stream, from step `start` on."""

    def __init__(self, batches, start: int):
        self.batches = batches
        self.start = start

    def __iter__(self):
        step = self.start
        while True:
            yield self.batches.batch(step)
            step += 1


class TaskModule(L.LightningModule):
    """genopt's one-player task as a LightningModule, with the player's optimizer and schedule."""

    def __init__(self, trainer: Trainer, log_every: int):
        super().__init__()
        self.task = trainer.task
        self.player = trainer.players[0]
        self.model = self.player.module
        self.log_every = log_every

    def training_step(self, batch, batch_index):
        loss, _ = self.task.loss(self.player.name, batch, self.global_step)
        if (self.global_step + 1) % self.log_every == 0:
            self.log("train/loss", loss)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_index):
        if self.player.ema is not None:
            self.player.ema.update()

    def configure_optimizers(self):
        schedule = {"scheduler": self.player.schedule, "interval": "step"}
        return {"optimizer": self.player.optimizer, "lr_scheduler": schedule}


class StepTimer(L.Callback):
    """Record the time from the start of the second batch to the end of the last."""

    def __init__(self):
        self.first = self.last = 0.0
        self.steps = 0

    def on_train_batch_start(self, trainer, module, batch, batch_index):
        if batch_index == 1:
            self.first = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_index):
        self.last = time.perf_counter()
        self.steps = batch_index


def lightning_seconds_per_step(module: TaskModule, batches, steps: int, start: int) -> float:
    """Fit for steps + 1 steps from batch `start`; return the seconds per step after the first."""
    timer = StepTimer()
    fit = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=steps + 1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=module.player.clip_grad_norm,
        gradient_clip_algorithm="norm",
        log_every_n_steps=module.log_every,
        callbacks=[timer],
    )
    loader = torch.utils.data.DataLoader(BatchStream(batches, start), batch_size=None)
    fit.fit(module, loader)
    return (timer.last - timer.first) / timer.steps


def measure(family: str, quick: bool) -> list[str]:
    trainer, log_every = build_trainer(family, [])
    if trainer.players[0].clip_grad_value is not None:
        raise ValueError(f"{family}: clipping by value is not mapped to Lightning here")
    module = TaskModule(trainer, log_every)
    genopt = genopt_run(trainer, log_every)
    genopt(10)
    steps = calibrate(genopt, 0.3 if quick else 1.0)
    genopt_times, lightning_times = [], []
    for round_index in range(5 if quick else 11):
        started = time.perf_counter()
        genopt(steps)
        genopt_times.append((time.perf_counter() - started) / steps)
        lightning_times.append(
            lightning_seconds_per_step(module, trainer.batches, steps, round_index * (steps + 1))
        )
    # The first round warms up Lightning's code paths; it is left out of both medians.
    genopt_ms = statistics.median(genopt_times[1:]) * 1e3
    lightning_ms = statistics.median(lightning_times[1:]) * 1e3
    ratios = [a / b for a, b in zip(genopt_times[1:], lightning_times[1:], strict=True)]
    return [family, f"{lightning_ms:.2f}", f"{genopt_ms:.2f}", f"{statistics.median(ratios):.3f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds of about 0.3 s each")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    args = parser.parse_args()
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")

    rows = [measure(family, args.quick) for family in args.families]
    print(machine_line() + f", lightning {L.__version__}")
    header = ["family", "Lightning ms/step", "genopt ms/step", "genopt / Lightning"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
