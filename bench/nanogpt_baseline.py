"""A plain PyTorch training loop with nanoGPT's small CPU configuration, as a baseline.

nanoGPT's README trains a character-level model on tiny Shakespeare on a CPU with
config/train_shakespeare_char.py and these changes: 4 layers, 4 heads, width 128, context 64,
batch 12, 2000 iterations (lr decay over 2000 too), no dropout, 20 evaluation batches. The
config's other values are AdamW at lr 1e-3 with betas (0.9, 0.99) and weight decay 0.1 on every
tensor of two or more dimensions, and gradient clipping at norm 1.0. The lr warms up linearly
over 100 iterations, then decays on a cosine to 1e-4. Every 250 iterations the loop estimates
the train and validation losses. nanoGPT takes torch's fused AdamW on CUDA only, so here, on a
CPU, AdamW runs torch's default implementation.

The model is genopt's GPT at that shape, so the comparison with `genopt train` is between the
loops and their settings, not between two models. The loop is written for this benchmark.

Run as its own process, so that its wall time includes Python's and torch's start-up. It
prints one JSON line: the time.time() of each estimate with its losses, the end time, and the
validation loss on genopt's 20 fixed batches of 64 windows, comparable with `genopt train`.

    python bench/nanogpt_baseline.py --data FILE [--iters 2000]
"""

import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

from genopt_cli.data.base import TokenWindows
from genopt_cli.models.transformer import GPT


def read_tokens(path: str) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Encode the file's characters; return the first 90% and the last 10%, and the vocab size."""
    with open(path, encoding="utf-8") as file:
        text = file.read()
    vocab = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    tokens = torch.tensor([index[ch] for ch in text], dtype=torch.long)
    n_train = int(len(tokens) * 0.9)
    return tokens[:n_train], tokens[n_train:], len(vocab)


def random_windows(tokens: torch.Tensor, batch: int, length: int) -> torch.Tensor:
    """Return `batch` windows of `length` + 1 tokens at uniform random starts."""
    starts = torch.randint(len(tokens) - length, (batch,))
    return torch.stack([tokens[s : s + length + 1] for s in starts.tolist()])


def learning_rate(iteration: int, args: argparse.Namespace) -> float:
    """Linear warmup to args.lr, then cosine decay to args.min_lr at args.iters."""
    if iteration < args.warmup:
        return args.lr * (iteration + 1) / (args.warmup + 1)
    progress = min(1.0, (iteration - args.warmup) / (args.iters - args.warmup))
    return args.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (args.lr - args.min_lr)


def window_loss(model: GPT, windows: torch.Tensor) -> torch.Tensor:
    logits = model(windows[:, :-1])
    return F.cross_entropy(logits.flatten(0, 1), windows[:, 1:].flatten())


@torch.no_grad()
def estimate(model: GPT, splits: dict, args: argparse.Namespace) -> dict[str, float]:
    """Return the mean loss over args.eval_iters random batches of each split."""
    model.eval()
    losses = {}
    for name, tokens in splits.items():
        total = 0.0
        for _ in range(args.eval_iters):
            total += window_loss(model, random_windows(tokens, args.batch, args.context)).item()
        losses[name] = total / args.eval_iters
    model.train()
    return losses


@torch.no_grad()
def fixed_val_loss(model: GPT, val: torch.Tensor, context: int) -> float:
    """Return the loss on the 20 batches of 64 windows that genopt's transformer evaluates."""
    model.eval()
    windows = TokenWindows(val, 64, context + 1, seed=0)
    return sum(window_loss(model, windows.batch(i)).item() for i in range(20)) / 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="UTF-8 text file")
    parser.add_argument("--iters", type=int, default=2000, help="optimizer steps")
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--min-lr", type=float, default=1e-4)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--eval-interval", type=int, default=250)
    parser.add_argument("--eval-iters", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1337)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    train, val, vocab_size = read_tokens(args.data)
    model = GPT(vocab_size, args.context, n_layer=4, n_head=4, n_embd=128, dropout=0.0)
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    vectors = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": matrices, "weight_decay": 0.1}, {"params": vectors, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.99))

    estimates = []
    for iteration in range(args.iters + 1):
        if iteration % args.eval_interval == 0 or iteration == args.iters:
            losses = estimate(model, {"train": train, "val": val}, args)
            estimates.append({"iteration": iteration, "time": time.time(), **losses})
        if iteration == args.iters:
            break
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(iteration, args)
        loss = window_loss(model, random_windows(train, args.batch, args.context))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    end = time.time()

    result = {"estimates": estimates, "end": end, "steps": args.iters}
    result["fixed_val_loss"] = fixed_val_loss(model, val, args.context)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
