"""Compare genopt's transformer recipe with a nanoGPT-configured loop on one text file.

Both train 4 layers, 4 heads, width 128, context 64 on the file's first 90% and report the
cross-entropy on its last 10% in nats per character. Each repetition runs, as separate processes:

- bench/nanogpt_baseline.py, nanoGPT's small CPU configuration (2000 iterations of batch 12);
- `genopt train model=transformer data=text_file data.path=FILE model.context_length=64` with
  the recipe's defaults otherwise, timed from process start to exit;
- bench/first_step.py with the same arguments, for genopt's start-up to its first step.

Then one in-process run of the same genopt config, evaluated every --eval-every steps, gives the
validation loss against the step count. The step at which it first reaches --target does not
depend on the machine's load, so genopt's time to the target is start-up + steps x step time,
with the step time of the timed command-line run. Wall times are medians over repetitions.

    python bench/shakespeare.py --data FILE [--quick] [--repeats 2]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from benchlib import machine_line, markdown_table

from genopt_cli.config.compose import compose_config
from genopt_cli.data import build_dataset
from genopt_cli.models import build_task
from genopt_cli.train.loop import Trainer
from genopt_cli.train.run import build_players, seed_everything

BENCH = Path(__file__).resolve().parent
# The validation loss that nanoGPT itself reached with this configuration on the 2-core reference
# machine, in 61 s including start-up.
TARGET = 1.886


def genopt_overrides(data: str, steps: int | None, extra: tuple[str, ...] = ()) -> list[str]:
    overrides = [
        "model=transformer",
        "data=text_file",
        f"data.path={data}",
        "model.context_length=64",
        "trainer.device=cpu",
    ]
    overrides += [f"trainer.max_steps={steps}"] if steps is not None else []
    return overrides + list(extra)


def run_baseline(data: str, iters: int) -> dict:
    """Run the nanoGPT-configured loop; return its result with wall time and time to target."""
    started = time.time()
    command = [sys.executable, str(BENCH / "nanogpt_baseline.py"), "--data", data]
    command += ["--iters", str(iters), "--eval-interval", str(max(1, iters // 8))]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    result["wall"] = result["end"] - started
    reached = [e["time"] - started for e in result["estimates"] if e["val"] <= TARGET]
    result["time_to_target"] = reached[0] if reached else None
    return result


def run_genopt(data: str, steps: int | None, folder: Path) -> dict:
    """Run `genopt train`; return its summary.json with the process's wall time added."""
    started = time.time()
    command = [sys.executable, "-m", "genopt_cli", "train", *genopt_overrides(data, steps)]
    subprocess.run([*command, f"hydra.run.dir={folder}"], capture_output=True, check=True)
    summary = json.loads((folder / "summary.json").read_text())
    summary["wall"] = time.time() - started
    return summary


def time_to_first_step(overrides: list[str], folder: Path) -> float:
    """Return the seconds from starting `genopt train OVERRIDES` to its first optimizer step."""
    started = time.time()
    command = [sys.executable, str(BENCH / "first_step.py"), "train", *overrides]
    result = subprocess.run(
        [*command, f"hydra.run.dir={folder}"], capture_output=True, text=True, check=True
    )
    for line in result.stdout.splitlines():
        if line.startswith("first_step_time "):
            return float(line.split()[1]) - started
    raise RuntimeError(f"no first step reported; stderr:\n{result.stderr[-2000:]}")


def loss_curve(
    data: str, steps: int | None, eval_every: int, extra: tuple[str, ...] = ()
) -> list[tuple[int, float]]:
    """Train the genopt config in this process, built as `genopt train` builds it; return
    (step, validation loss) every eval_every steps and at the end."""
    cfg = compose_config(genopt_overrides(data, steps, extra))
    device = torch.device("cpu")
    seed_everything(cfg.trainer.seed)
    dataset = build_dataset(cfg.data, Path.cwd())
    task = build_task(cfg.model, dataset)
    task.to(device)
    players = build_players(cfg, task, device)
    batches = task.make_batches(dataset, cfg.data.batch_size, cfg.trainer.seed)
    trainer = Trainer(task, players, batches, 1, cfg.trainer.precision, device)
    module = task.players["model"]
    curve = []
    for step in range(cfg.trainer.max_steps):
        done = step + 1
        trainer.train_step(step, log_now=False)
        if done % eval_every == 0 or done == cfg.trainer.max_steps:
            module.eval()
            with torch.random.fork_rng(devices=[]):
                curve.append((done, task.evaluate({"model": module}, dataset)["val/loss"]))
            module.train()
    return curve


def interpolate_step(curve: list[tuple[int, float]], target: float) -> float | None:
    """Return the step at which the curve first falls to `target`, linear between evaluations."""
    previous = (0, float("inf"))
    for step, loss in curve:
        if loss <= target:
            if previous[1] == float("inf"):
                return float(step)
            fraction = (previous[1] - target) / (previous[1] - loss)
            return previous[0] + fraction * (step - previous[0])
        previous = (step, loss)
    return None


def loss_at_step(curve: list[tuple[int, float]], step: float) -> float:
    """Return the curve's loss at `step`, linear between evaluations."""
    for (step_a, loss_a), (step_b, loss_b) in zip(curve, curve[1:], strict=False):
        if step_a <= step <= step_b:
            return loss_a + (loss_b - loss_a) * (step - step_a) / (step_b - step_a)
    return curve[-1][1] if step >= curve[-1][0] else curve[0][1]


def seconds(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="UTF-8 text file, such as tinyshakespeare")
    parser.add_argument("--quick", action="store_true", help="120 steps each, one repetition")
    parser.add_argument("--repeats", type=int, default=2, help="repetitions of the timed runs")
    parser.add_argument(
        "--eval-every", type=int, default=50, help="steps between evaluations (60 with --quick)"
    )
    parser.add_argument("--target", type=float, default=TARGET, help="validation loss to reach")
    args = parser.parse_args()
    data = str(Path(args.data).resolve())
    # The recipe warms up over 100 steps, so a quick run must be longer than that.
    baseline_iters = 120 if args.quick else 2000
    genopt_steps = 120 if args.quick else None
    repeats = 1 if args.quick else args.repeats

    baselines, genopts, startups = [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(repeats):
            baselines.append(run_baseline(data, baseline_iters))
            genopts.append(run_genopt(data, genopt_steps, Path(scratch) / f"run{index}"))
            overrides = genopt_overrides(data, genopt_steps)
            startups.append(time_to_first_step(overrides, Path(scratch) / f"first{index}"))
    curve = loss_curve(data, genopt_steps, 60 if args.quick else args.eval_every)

    baseline_wall = statistics.median(b["wall"] for b in baselines)
    reached_times = [b["time_to_target"] for b in baselines]
    baseline_target = None if None in reached_times else statistics.median(reached_times)
    baseline_loss = statistics.median(b["fixed_val_loss"] for b in baselines)
    startup = statistics.median(startups)
    genopt_wall = statistics.median(g["wall"] for g in genopts)
    steps = genopts[0]["steps"]
    step_time = statistics.median(g["train_time_s"] / g["steps"] for g in genopts)
    genopt_loss = genopts[0]["metrics"]["val/loss"]
    steps_to_target = interpolate_step(curve, args.target)
    genopt_target = None if steps_to_target is None else startup + steps_to_target * step_time
    equal_wall_step = (baseline_wall - startup) / step_time
    if equal_wall_step >= steps:
        equal_wall_loss = genopt_loss
    else:
        equal_wall_loss = loss_at_step(curve, equal_wall_step)

    print(machine_line())
    print(f"data {args.data}; target validation loss {args.target}; {repeats} repetition(s)")
    header = ["run", "steps x batch", "wall s", "val loss", f"time to {args.target} s"]
    batch = compose_config(genopt_overrides(data, None)).data.batch_size
    rows = [
        [
            "nanoGPT configuration (bench/nanogpt_baseline.py)",
            f"{baseline_iters} x 12",
            f"{baseline_wall:.1f}",
            f"{baseline_loss:.3f}",
            seconds(baseline_target),
        ],
        [
            "genopt transformer recipe",
            f"{steps} x {batch}",
            f"{genopt_wall:.1f}",
            f"{genopt_loss:.3f}",
            seconds(genopt_target),
        ],
    ]
    print(markdown_table(header, rows))
    print()
    print(f"- genopt start-up to its first step: {startup:.1f} s")
    print(f"- genopt step time: {step_time * 1e3:.1f} ms")
    reached = "not reached" if steps_to_target is None else f"{steps_to_target:.0f}"
    print(f"- genopt steps to {args.target}: {reached} (evaluated every {args.eval_every} steps)")
    print(
        f"- genopt validation loss at the baseline's wall time ({baseline_wall:.1f} s): "
        f"{equal_wall_loss:.3f}"
    )
    if genopt_target is not None:
        ratio = genopt_target / baseline_wall
        print(f"- genopt time to {args.target} / baseline wall time: {ratio:.2f}")
    print(
        f"- final validation loss of the evaluated run: {curve[-1][1]:.3f} "
        f"(command line: {genopt_loss:.3f})"
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(BENCH.parent))
    main()
