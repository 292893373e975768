"""The benchmark scripts' arithmetic, and the scripts themselves in their short modes."""

import argparse
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

from benchlib import markdown_table, paired_ratio, time_interleaved  # noqa: E402
from gpu import transformer_flops_per_step  # noqa: E402
from nanogpt_baseline import learning_rate  # noqa: E402
from shakespeare import interpolate_step, loss_at_step  # noqa: E402

from genopt_cli.models.transformer import GPT  # noqa: E402


def test_paired_ratio_is_median_of_pairs():
    assert paired_ratio([2.0, 3.0, 100.0], [1.0, 1.0, 10.0]) == 3.0


def test_time_interleaved_alternates_order():
    calls = []
    runs = {"a": lambda n: calls.append("a"), "b": lambda n: calls.append("b")}
    timings = time_interleaved(runs, steps=1, repeats=3)
    assert calls == ["a", "b", "b", "a", "a", "b"]
    assert len(timings["a"]) == 3
    assert len(timings["b"]) == 3


def test_markdown_table_aligns_numbers_right():
    table = markdown_table(["name", "x"], [["a", "1"]])
    assert table.splitlines() == ["| name | x |", "|---|---:|", "| a | 1 |"]


def test_interpolate_step_between_evaluations():
    curve = [(100, 2.0), (200, 1.8)]
    assert interpolate_step(curve, 1.9) == pytest.approx(150.0)
    assert interpolate_step(curve, 1.7) is None
    assert interpolate_step([(100, 1.5)], 1.9) == 100.0


def test_loss_at_step_interpolates_and_clamps():
    curve = [(100, 2.0), (200, 1.8)]
    assert loss_at_step(curve, 125) == pytest.approx(1.95)
    assert loss_at_step(curve, 500) == 1.8
    assert loss_at_step(curve, 50) == 2.0


def test_baseline_learning_rate_warmup_and_cosine():
    args = argparse.Namespace(lr=1e-3, min_lr=1e-4, warmup=100, iters=2000)
    assert learning_rate(0, args) == pytest.approx(1e-3 / 101)
    assert learning_rate(99, args) == pytest.approx(1e-3 * 100 / 101)
    assert learning_rate(100, args) == pytest.approx(1e-3)
    halfway = 100 + (2000 - 100) // 2
    assert learning_rate(halfway, args) == pytest.approx(0.5 * (1e-3 + 1e-4), rel=1e-6)
    assert learning_rate(2000, args) == pytest.approx(1e-4)


def test_transformer_flops_formula():
    model = GPT(vocab_size=10, context_length=8, n_layer=2, n_head=2, n_embd=16, dropout=0.0)
    cfg = argparse.Namespace(context_length=8, n_layer=2, n_embd=16)
    # The head shares the 10 x 16 token embedding. A block has two LayerNorms (64), qkv
    # (16 x 48 + 48), proj (16 x 16 + 16) and the MLP (16 x 64 + 64, 64 x 16 + 16).
    block = 64 + (16 * 48 + 48) + (16 * 16 + 16) + (16 * 64 + 64) + (64 * 16 + 16)
    parameters = 10 * 16 + 2 * block + 32
    expected = (6 * parameters + 12 * 2 * 16 * 8) * 8 * 3
    assert transformer_flops_per_step(cfg, model, batch_size=3) == expected
    assert math.isclose(expected, 6 * parameters * 24 + 12 * 2 * 16 * 8 * 24)


def run_script(*arguments: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, *arguments], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_overhead_script_prints_rows():
    output = run_script("bench/overhead.py", "--quick", "--families", "vae")
    assert "| vae |" in output


@pytest.mark.slow
def test_gpu_script_dry_run():
    output = run_script("bench/gpu.py", "--dry")
    assert "| transformer | bf16 + compile |" in output
    assert "| ddpm | fp32 |" in output


@pytest.mark.slow
def test_run_script_quick():
    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(
        ["bash", "bench/run.sh", "--quick"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "genopt / plain" in result.stdout
    assert torch.__version__ in result.stdout
