"""Helpers shared by the tests: run the CLI as a user would, read TensorBoard files back."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

# Overrides that shrink each family so that a run takes seconds on a CPU.
TINY = {
    "vae": [
        "model.hidden_dims=[64]",
        "model.latent_dim=4",
        "model.kl_warmup_steps=20",
        "schedule.warmup_steps=2",
    ],
    "ddpm": [
        "model.channels=[16,32]",
        "model.time_dim=32",
        "model.sample_steps=4",
        "schedule.warmup_steps=2",
    ],
    "gan": ["model.generator_channels=32", "model.discriminator_channels=16"],
    "transformer": [
        "model.n_layer=1",
        "model.n_head=2",
        "model.n_embd=32",
        "model.context_length=32",
        "model.sample_length=40",
        "schedule.warmup_steps=2",
        "trainer.num_samples=2",
    ],
}


def run_genopt(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="120")
    return subprocess.run(
        [sys.executable, "-m", "genopt_cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def train_tiny(
    model: str, run_dir: Path, *extra: str, steps: int = 30
) -> subprocess.CompletedProcess:
    result = run_genopt(
        "train",
        f"model={model}",
        *TINY[model],
        f"trainer.max_steps={steps}",
        "trainer.log_every=5",
        "trainer.num_samples=4",
        f"hydra.run.dir={run_dir}",
        *extra,
        cwd=run_dir.parent,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    accumulator = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {
        tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def read_tags(run_dir: Path) -> dict[str, list[str]]:
    accumulator = EventAccumulator(str(run_dir / "tb"))
    accumulator.Reload()
    return accumulator.Tags()


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())
