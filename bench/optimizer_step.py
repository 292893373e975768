"""Time optimizer.step() of every optimizer config on the transformer's parameters.

The model is `model=transformer` at its default size, the gradients are fixed random tensors,
and only the step is timed. L-BFGS needs a closure: it gets a diagonal quadratic of the weights
(its backward included in the time) and runs one iteration per step, so a step with the
config's max_iter iterations costs up to max_iter times more. Each optimizer's median over
--repeats timings of --steps steps is reported as a ratio to AdamW(foreach=True) timed in the
same process, so load on the machine affects both alike.

    python bench/optimizer_step.py [--steps 20] [--repeats 5] [--markdown]
"""

import argparse
import platform
import statistics
import time

import torch
from omegaconf import OmegaConf

from genopt_cli.config.compose import compose_config, group_options
from genopt_cli.data import build_dataset
from genopt_cli.models import build_task
from genopt_cli.optim import build_optimizer, missing_package, requires_closure, set_optimizer_mode

BASELINE = "adamw (foreach)"


def transformer_parameters() -> torch.nn.Module:
    cfg = compose_config(["model=transformer"])
    torch.manual_seed(0)
    return build_task(cfg.model, build_dataset(cfg.data, None)).players["model"]


def configs() -> dict[str, OmegaConf]:
    """Return the optimizer configs to time: the AdamW (foreach) baseline first, then every
    config in configs/optimizer/, with L-BFGS at one iteration per step."""
    runs = {
        BASELINE: compose_config(
            ["optimizer=adamw", "optimizer.foreach=true", "optimizer.fused=false"]
        ).optimizer
    }
    for name in group_options("optimizer"):
        if name == "lbfgs":
            runs["lbfgs (1 iteration)"] = compose_config(
                [f"optimizer={name}", "optimizer.max_iter=1"]
            )
            runs["lbfgs (1 iteration)"] = runs["lbfgs (1 iteration)"].optimizer
        else:
            runs[name] = compose_config([f"optimizer={name}"]).optimizer
    return runs


def make_stepper(optimizer_cfg, module: torch.nn.Module):
    """Build the optimizer on `module` with fixed gradients; return a function taking one step."""
    optimizer = build_optimizer(optimizer_cfg, module, "model")
    set_optimizer_mode(optimizer, training=True)
    generator = torch.Generator().manual_seed(1)
    gradients = [torch.randn(p.shape, generator=generator) * 1e-3 for p in module.parameters()]
    for parameter, gradient in zip(module.parameters(), gradients, strict=True):
        parameter.grad = gradient
    curvatures = [torch.rand(p.shape, generator=generator) * 99 + 1 for p in module.parameters()]

    def closure() -> torch.Tensor:
        """0.5 sum c w^2, a convex quadratic with curvatures c in [1, 100]."""
        optimizer.zero_grad()
        loss = sum((c * p * p).sum() for c, p in zip(curvatures, module.parameters(), strict=True))
        (0.5 * loss).backward()
        return loss.detach()

    def step() -> None:
        if requires_closure(optimizer):
            optimizer.step(closure)
        else:
            optimizer.step()

    step()  # state allocation and first-call overheads stay out of the timing
    return step


def time_round_robin(steppers: dict, steps: int, repeats: int) -> dict[str, float]:
    """Return each optimizer's median seconds per step.

    Every repeat times each optimizer once in turn, so a change of load on the machine during
    the run reaches all of them, the baseline included.
    """
    timings = {name: [] for name in steppers}
    for _ in range(repeats):
        for name, step in steppers.items():
            started = time.perf_counter()
            for _ in range(steps):
                step()
            timings[name].append((time.perf_counter() - started) / steps)
    return {name: statistics.median(values) for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="steps per timing (default 20)")
    parser.add_argument("--repeats", type=int, default=5, help="timings per optimizer (default 5)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()

    template = transformer_parameters()
    count = sum(p.numel() for p in template.parameters())
    steppers = {}
    for name, optimizer_cfg in configs().items():
        hint = missing_package(optimizer_cfg._target_)
        if hint is not None:
            print(f"skipped {name}: {hint}")
            continue
        steppers[name] = make_stepper(optimizer_cfg, transformer_parameters())
    results = time_round_robin(steppers, args.steps, args.repeats)
    baseline = results[BASELINE]

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}, {count:,} parameters"
    )
    if args.markdown:
        print("| optimizer | ms per step | ratio to AdamW (foreach) |")
        print("|---|---:|---:|")
    for name, seconds in results.items():
        ratio = seconds / baseline
        if args.markdown:
            print(f"| {name} | {seconds * 1e3:.2f} | {ratio:.2f} |")
        else:
            print(f"{name:22s} {seconds * 1e3:9.2f} ms  {ratio:6.2f} x")


if __name__ == "__main__":
    main()
