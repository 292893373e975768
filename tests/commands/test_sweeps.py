"""Sweeps through the CLI: the end-of-sweep summary, failed runs, Optuna and joblib."""

import json

import pytest
import yaml

from genopt_cli.cli import main
from tests.helpers import read_summary, run_genopt

TINY_VAE = ["model=vae", "model.hidden_dims=[32]", "model.latent_dim=2"]
SHORT = ["trainer.max_steps=5", "trainer.log_every=5", "trainer.num_samples=4"]


def sweep(tmp_path, *overrides, warmup="schedule.warmup_steps=1"):
    sweep_dir = tmp_path / "sweep"
    arguments = [*TINY_VAE, *SHORT, warmup, *overrides, f"hydra.sweep.dir={sweep_dir}"]
    result = run_genopt("train", "-m", *arguments, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return sweep_dir, result


def run_folders(sweep_dir):
    return sorted(p for p in sweep_dir.iterdir() if (p / "summary.json").is_file())


def test_two_by_two_sweep_summary(tmp_path):
    sweep_dir, result = sweep(tmp_path, "optimizer=adam,adamw", "optimizer.lr=1e-3,3e-3")
    assert len(run_folders(sweep_dir)) == 4
    rows = json.loads((sweep_dir / "sweep_summary.json").read_text())
    assert len(rows) == 4
    assert all(row["status"] == "finished" for row in rows)
    values = [row["target_value"] for row in rows]
    assert values == sorted(values)
    assert (sweep_dir / "summary.csv").read_text().count("\n") == 5
    assert (sweep_dir / "compare.png").stat().st_size > 10_000
    assert "sweep of 4 runs, 0 failed" in result.stderr
    for words in ("optimizer=adamw optimizer.lr=0.003", "target val/nelbo"):
        assert words in result.stderr


def test_failed_run_does_not_stop_sweep(tmp_path):
    # lr 1e9 turns the VAE's loss into NaN within 5 steps.
    sweep_dir, result = sweep(tmp_path, "optimizer.lr=1e9,1e-3")
    runs = run_folders(sweep_dir)
    statuses = sorted(read_summary(run)["status"] for run in runs)
    assert statuses == ["failed", "finished"]
    rows = json.loads((sweep_dir / "sweep_summary.json").read_text())
    assert rows[0]["status"] == "finished"
    assert rows[1]["status"] == "failed"
    assert "non-finite value at step" in rows[1]["error"]
    assert "sweep of 2 runs, 1 failed" in result.stderr


def test_any_exception_in_sweep_is_recorded(tmp_path, monkeypatch):
    """A bug in one run (here a RuntimeError) is recorded and the next run still trains."""
    import genopt_cli.train.run as run_module

    real_train = run_module.train

    def train_or_raise(cfg, *args):
        if cfg.optimizer.lr > 0.01:
            raise RuntimeError("simulated failure")
        return real_train(cfg, *args)

    monkeypatch.setattr(run_module, "train", train_or_raise)
    monkeypatch.chdir(tmp_path)
    sweep_dir = tmp_path / "sweep"
    arguments = [*TINY_VAE, *SHORT, "schedule.warmup_steps=1", "optimizer.lr=0.1,1e-3"]
    main(["train", "-m", *arguments, f"hydra.sweep.dir={sweep_dir}"])
    summaries = [read_summary(run) for run in run_folders(sweep_dir)]
    assert summaries[0]["status"] == "failed"
    assert summaries[0]["error"] == "error: RuntimeError: simulated failure"
    assert summaries[1]["status"] == "finished"
    log = next(p for p in sweep_dir.iterdir() if p.name.startswith("0_")) / "train.log"
    assert "Traceback" in log.read_text()


def test_optuna_sweep_reports_best(tmp_path):
    sweep_dir, result = sweep(
        tmp_path,
        "hydra/sweeper=search",
        "hydra.sweeper.n_trials=3",
        warmup="schedule.warmup_steps=choice(0,1)",
    )
    rows = json.loads((sweep_dir / "sweep_summary.json").read_text())
    assert len(rows) == 3
    assert all(row["status"] == "finished" for row in rows)
    best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(rows[0]["target_value"])
    assert set(best["best_params"]) == {
        "optimizer.lr",
        "optimizer.weight_decay",
        "schedule.warmup_steps",
    }
    lrs = [
        float(o.split("=")[1])
        for r in rows
        for o in r["overrides"]
        if o.startswith("optimizer.lr=")
    ]
    assert len(lrs) == 3
    assert all(1e-5 <= lr <= 1e-2 for lr in lrs)


def test_joblib_launcher_runs_in_parallel(tmp_path):
    sweep_dir, _ = sweep(
        tmp_path, "hydra/launcher=parallel", "hydra.launcher.n_jobs=2", "optimizer=adam,adamw"
    )
    runs = run_folders(sweep_dir)
    assert len(runs) == 2
    assert all(read_summary(run)["status"] == "finished" for run in runs)


def test_slurm_launcher_config_composes(tmp_path):
    result = run_genopt("train", "--cfg", "hydra", "hydra/launcher=slurm", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher" in result.stdout
    assert "gpus_per_node: 1" in result.stdout
