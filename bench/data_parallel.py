"""Measure `genopt train` under torchrun against the same run in one plain process.

For each family, three real runs of the command line, each a fresh process tree:

- plain: `genopt train` in one process, the reference;
- torchrun 1: the same run under torchrun with one process. It trains as a plain run (no DDP
  for one process), so its ratio to plain checks that joining a process group costs nothing
  per step;
- torchrun N: N processes, each with the plain run's batch, so N times the examples per step.
  Its examples-per-second ratio to plain is the scaling, with DDP's gradient all-reduce and the
  per-update agreement on finite values and stop requests.

The figures are the training steps per second that each run writes to summary.json (the loop
only, without start-up and the final evaluation), the median over --repeats rounds. A round
runs the three ways one after the other, in reversed order every other round. On a CPU the N
processes share the machine's cores, so the scaling shows the cost of gloo's all-reduce more
than a speed-up. On a machine with N GPUs, `--device cuda --nproc N` gives the NCCL scaling,
and `--nproc 1` a one-GPU torchrun run of each family.

    python bench/data_parallel.py [--nproc 2] [--scale 1.0] [--repeats 3] [--device cpu|cuda]
        [--families vae,gan,ddpm,transformer]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import machine_line, markdown_table

RUN = ["trainer.eval_samples=null", "trainer.num_samples=4", "trainer.checkpoint_every=null"]
# Steps per run at --scale 1: about ten seconds of training each on a 2-core CPU.
STEPS = {"vae": 3000, "gan": 200, "ddpm": 200, "transformer": 100}


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


def measure(family: str, args, ways: dict, root: Path) -> list[str]:
    """Time `family` in each of `ways` (name -> (launcher, threads)); return its table row."""
    steps = max(20, round(STEPS[family] * args.scale))
    rates: dict[str, list[float]] = {name: [] for name in ways}
    for round_index in range(args.repeats):
        order = list(ways) if round_index % 2 == 0 else list(ways)[::-1]
        for name in order:
            launcher, threads = ways[name]
            folder = root / f"{family}-{name}-{round_index}"
            summary = train(launcher, family, steps, args.device, folder, threads)
            rates[name].append(summary["steps_per_s"])

    plain, single, many = (statistics.median(rates[name]) for name in ways)
    loss_tag = "train/loss/generator" if family == "gan" else "train/loss"
    return [
        family,
        str(steps),
        f"{plain:.1f}",
        f"{single:.1f}",
        f"{single / plain:.3f}",
        f"{many:.1f}",
        f"{args.nproc * many / plain:.2f}",
        f"{summary['metrics'][loss_tag]:.4g}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every run's steps")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--families", default="vae,gan,ddpm,transformer")
    args = parser.parse_args()

    launcher = ["-m", "torch.distributed.run", "--standalone"]
    # One process gets every core; N processes share them.
    cores = os.cpu_count() or 1
    ways = {
        "plain": ([], cores),
        "single": ([*launcher, "--nproc_per_node=1"], cores),
        "many": ([*launcher, f"--nproc_per_node={args.nproc}"], max(1, cores // args.nproc)),
    }
    with tempfile.TemporaryDirectory() as scratch:
        rows = [measure(family, args, ways, Path(scratch)) for family in args.families.split(",")]

    header = [
        "family",
        "steps",
        "plain steps/s",
        "torchrun 1 steps/s",
        "torchrun 1 / plain",
        f"torchrun {args.nproc} steps/s",
        f"examples/s, {args.nproc} / plain",
        "final train loss, last run",
    ]
    print(f"{args.device}, {args.repeats} rounds; {machine_line()}")
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
