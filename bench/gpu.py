"""Measure genopt's training steps per second on a GPU in fp32, bf16 and bf16 with torch.compile.

Two workloads, each built by genopt's run-building functions and stepped by Trainer.train_step:

- DDPM at 32x32: the UNet with channels [128, 256, 256] and attention at the 8x8 level,
  batch 128, on random 3x32x32 images (the step time does not depend on the pixels);
- the transformer at 12 layers, 12 heads, width 768, context 1024, batch 16, on the embedded
  text corpus, with its model FLOPs utilisation (MFU).

The FLOPs of one transformer step are 6 N + 12 L C T per token (N parameters without the
position embedding, L layers, C width, T context; Chowdhery et al., 2022, "PaLM", appendix B),
times the step's tokens. MFU divides the achieved FLOP/s by --peak-tflops, the GPU's dense bf16
peak from its datasheet; without it only TFLOP/s are printed.

--dry runs tiny sizes for a few steps on the CPU, to check the script without a GPU; its
figures mean nothing. torch.compile then uses the "eager" backend unless --compile-backend
names another, so the dry run needs no C++ compiler.

    python bench/gpu.py [--dry] [--steps 50] [--peak-tflops 989]
"""

import argparse
import statistics
import time

import torch
from benchlib import machine_line, markdown_table
from overhead import build_trainer

from genopt_cli.data.base import ImageDataset

FULL = {
    "ddpm": ["model.channels=[128,256,256]", "model.attention_levels=[2]", "data.batch_size=128"],
    "transformer": [
        "model.n_layer=12",
        "model.n_head=12",
        "model.n_embd=768",
        "model.context_length=1024",
        "data.batch_size=16",
    ],
}
DRY = {
    "ddpm": ["model.channels=[8,16]", "model.attention_levels=[1]", "data.batch_size=4"],
    "transformer": [
        "model.n_layer=2",
        "model.n_head=2",
        "model.n_embd=32",
        "model.context_length=32",
        "data.batch_size=4",
    ],
}
MODES = {"fp32": ("fp32", False), "bf16": ("bf16", False), "bf16 + compile": ("bf16", True)}


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def transformer_flops_per_step(cfg, module: torch.nn.Module, batch_size: int) -> float:
    """Return 6 N + 12 L C T FLOPs per token times the tokens of one step."""
    parameters = sum(p.numel() for p in module.parameters())
    parameters -= module.position_embedding.weight.numel()
    context = cfg.context_length
    per_token = 6 * parameters + 12 * cfg.n_layer * cfg.n_embd * context
    return per_token * context * batch_size


def measure(family: str, mode: str, args: argparse.Namespace) -> dict:
    precision, compiled = MODES[mode]
    overrides = [*(DRY if args.dry else FULL)[family], f"trainer.precision={precision}"]
    dataset = None
    if family == "ddpm":
        size = 8 if args.dry else 32
        images = torch.rand(256 if args.dry else 4096, 3, size, size)
        dataset = ImageDataset("random", train=images[:-64], val=images[-64:])
    trainer, _ = build_trainer(family, overrides, args.device, dataset)
    module = trainer.task.players["model"]
    if compiled:
        module.compile(backend=args.compile_backend)

    step = 0
    for _ in range(args.warmup):  # compilation and autotuning happen here
        trainer.train_step(step, log_now=False)
        step += 1
    timings = []
    for _ in range(args.repeats):
        synchronize(args.device)
        started = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step(step, log_now=False)
            step += 1
        synchronize(args.device)
        timings.append((time.perf_counter() - started) / args.steps)

    seconds = statistics.median(timings)
    result = {"family": family, "mode": mode, "steps_per_s": 1.0 / seconds}
    if family == "transformer":
        flops = transformer_flops_per_step(trainer.task.cfg, module, trainer.batches.step_size)
        result["tflops"] = flops / seconds / 1e12
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry", action="store_true", help="tiny sizes and few steps on the CPU")
    parser.add_argument("--device", default=None, help="default: cuda, or cpu with --dry")
    parser.add_argument("--steps", type=int, default=None, help="steps per timing (50; 2 dry)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per mode (median)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (10; 1 dry)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak TFLOP/s")
    parser.add_argument("--compile-backend", default=None, help="inductor; eager with --dry")
    args = parser.parse_args()
    args.device = args.device or ("cpu" if args.dry else "cuda")
    args.steps = args.steps or (2 if args.dry else 50)
    args.warmup = args.warmup or (1 if args.dry else 10)
    args.compile_backend = args.compile_backend or ("eager" if args.dry else "inductor")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("error: no CUDA device is available; run with --dry to check on a CPU")

    rows = []
    for family in ("ddpm", "transformer"):
        for mode in MODES:
            result = measure(family, mode, args)
            tflops = result.get("tflops")
            mfu = "-"
            if tflops is not None and args.peak_tflops:
                mfu = f"{100 * tflops / args.peak_tflops:.1f}%"
            rows.append(
                [
                    family,
                    mode,
                    f"{result['steps_per_s']:.2f}",
                    "-" if tflops is None else f"{tflops:.3g}",
                    mfu,
                ]
            )
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(machine_line() + f", device {device}" + (", dry run" if args.dry else ""))
    print(markdown_table(["workload", "precision", "steps/s", "model TFLOP/s", "MFU"], rows))


if __name__ == "__main__":
    main()
