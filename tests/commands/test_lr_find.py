"""The learning-rate range test: its ramp, smoothing and rule, and the command end to end."""

import json
import math

import pytest

from genopt_cli.train.lr_find import exponential_lrs, smooth, steepest_descent_lr
from tests.helpers import TINY, run_genopt


def test_exponential_lrs_closed_form():
    lrs = exponential_lrs(1e-6, 1.0, 7)
    assert lrs == pytest.approx([1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0])


def test_smooth_is_bias_corrected():
    assert smooth([5.0, 5.0, 5.0]) == pytest.approx([5.0, 5.0, 5.0])
    # Second value: (0.9 * 0.1 * 1 + 0.1 * 3) / (1 - 0.81) = 0.39 / 0.19.
    assert smooth([1.0, 3.0])[1] == pytest.approx(0.39 / 0.19)


def test_steepest_descent_of_tanh_curve():
    """loss = -tanh(log10(lr) + 3) falls fastest at lr = 1e-3."""
    lrs = exponential_lrs(1e-6, 1.0, 61)
    losses = [-math.tanh(math.log10(lr) + 3) for lr in lrs]
    assert steepest_descent_lr(lrs, losses) == pytest.approx(1e-3)


def test_steepest_descent_ignores_points_after_minimum():
    lrs = exponential_lrs(1e-4, 1.0, 5)
    losses = [3.0, 2.5, 1.0, 5.0, 50.0]
    assert steepest_descent_lr(lrs, losses) == pytest.approx(1e-3)


def test_lr_find_vae_writes_curve(tmp_path):
    out = tmp_path / "find"
    result = run_genopt(
        "lr-find", "model=vae", *TINY["vae"], "--steps", "40", "--out", str(out), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads((out / "lr_find.json").read_text())
    curve = data["players"]["model"]
    assert 1e-6 <= curve["suggested_lr"] <= 1.0
    assert curve["lrs"][0] == pytest.approx(1e-6)
    assert "falls fastest" in data["rule"]
    assert (out / "lr_find.png").stat().st_size > 10_000
    assert any(p.name.startswith("events") for p in (out / "tb").iterdir())
    assert "suggested lr" in result.stdout


def test_lr_find_gan_ramps_each_player(tmp_path):
    out = tmp_path / "find"
    result = run_genopt(
        "lr-find", "model=gan", *TINY["gan"], "--steps", "6", "--out", str(out), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    players = json.loads((out / "lr_find.json").read_text())["players"]
    assert list(players) == ["discriminator", "generator"]


def test_lr_find_bad_range(tmp_path):
    result = run_genopt("lr-find", "model=vae", "--min-lr", "1", "--max-lr", "0.1", cwd=tmp_path)
    assert result.returncode == 2
    assert "--min-lr=1.0" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_lr_find_near_best_swept_lr_on_vae(tmp_path):
    """Figures in docs/lr-find.md: best swept lr 3e-3, suggestion 1.2e-3 (2.4 times lower)."""
    config = ["model=vae", "model.kl_warmup_steps=200", "schedule.warmup_steps=50"]
    sweep_dir = tmp_path / "sweep"
    result = run_genopt(
        "train",
        "-m",
        *config,
        "trainer.max_steps=1000",
        "trainer.log_every=100",
        "optimizer.lr=1e-4,3e-4,1e-3,3e-3,1e-2,3e-2",
        f"hydra.sweep.dir={sweep_dir}",
        cwd=tmp_path,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads((sweep_dir / "sweep_summary.json").read_text())
    best = next(float(o.split("=")[1]) for o in rows[0]["overrides"] if "optimizer.lr=" in o)
    out = tmp_path / "find"
    result = run_genopt(
        "lr-find", *config, "trainer.max_steps=1000", "--out", str(out), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    suggested = json.loads((out / "lr_find.json").read_text())["players"]["model"]["suggested_lr"]
    assert best / 3 <= suggested <= best * 3, (best, suggested)
