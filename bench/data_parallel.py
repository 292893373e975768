"""Measure `genopt train` under torchrun against the same run in one plain process.

For each family, three real runs of the command line, each a fresh process tree:

- plain: `genopt train` in one process, the reference;
- torchrun 1: the same run under torchrun with one process. Its ratio to plain is the cost of
  the data-parallel path itself: the DDP wrapper, the per-step stop agreement and the per-update
  agreement on finite gradients;
- torchrun N: N processes, each with the plain run's batch, so N times the examples per step.
  Its examples-per-second ratio to plain is the scaling.

The figures are the training steps per second that each run writes to summary.json (the loop
only, without start-up and the final evaluation). On a CPU the N processes share the machine's
cores, so the scaling shows the cost of gloo's all-reduce more than a speed-up. On a machine
with N GPUs, `--device cuda --nproc N` gives the NCCL scaling, and `--nproc 1` the one-GPU
torchrun check of each family.

    python bench/data_parallel.py [--nproc 2] [--steps 300] [--device cpu|cuda]
        [--families vae,gan,ddpm,transformer]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import machine_line, markdown_table

RUN = ["trainer.eval_samples=null", "trainer.num_samples=4", "trainer.checkpoint_every=null"]


def train(
    launcher: list[str], family: str, steps: int, device: str, folder: Path, threads: int
) -> dict:
    """Run one training command with `threads` torch threads per process; return its
    summary.json."""
    overrides = [
        f"model={family}",
        f"trainer.max_steps={steps}",
        f"trainer.log_every={steps}",
        "schedule.warmup_steps=10",
        f"trainer.device={device}",
        f"hydra.run.dir={folder}",
        *RUN,
    ]
    command = [sys.executable, *launcher, "-m", "genopt_cli", "train", *overrides]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    result = subprocess.run(
        command, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return json.loads((folder / "summary.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--families", default="vae,gan,ddpm,transformer")
    args = parser.parse_args()
    torchrun = [
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={args.nproc}",
    ]
    single = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1"]
    # One process gets every core; N processes share them.
    cores = os.cpu_count() or 1
    shared = max(1, cores // args.nproc)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for family in args.families.split(","):
            plain = train([], family, args.steps, args.device, root / f"{family}-plain", cores)
            one = train(single, family, args.steps, args.device, root / f"{family}-1", cores)
            many = train(torchrun, family, args.steps, args.device, root / f"{family}-n", shared)
            loss_tag = "train/loss/generator" if family == "gan" else "train/loss"
            rows.append(
                [
                    family,
                    f"{plain['steps_per_s']:.1f}",
                    f"{one['steps_per_s']:.1f}",
                    f"{one['steps_per_s'] / plain['steps_per_s']:.3f}",
                    f"{many['steps_per_s']:.1f}",
                    f"{args.nproc * many['steps_per_s'] / plain['steps_per_s']:.2f}",
                    f"{many['metrics'][loss_tag]:.4g}",
                ]
            )
    header = [
        "family",
        "plain steps/s",
        "torchrun 1 steps/s",
        "torchrun 1 / plain",
        f"torchrun {args.nproc} steps/s",
        f"examples/s, {args.nproc} / plain",
        f"final train loss, {args.nproc}",
    ]
    print(f"{args.device}, {args.steps} steps; {machine_line()}")
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
