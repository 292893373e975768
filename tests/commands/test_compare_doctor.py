"""compare, doctor and the health checks on tiny real runs."""

import csv
import json

import pytest

from genopt_cli.monitor.comparison import comparison_table, sort_runs
from genopt_cli.monitor.runs import RunRecord
from tests.helpers import run_genopt, train_tiny


def record(name, status, value=None, error=None):
    metrics = {} if value is None else {"val/loss": value}
    return RunRecord(
        path=__import__("pathlib").Path(name),
        overrides=[f"optimizer.lr={name}"],
        status=status,
        target_metric="val/loss",
        metrics=metrics,
        error=error,
    )


def test_runs_sorted_best_first_failed_last():
    records = [
        record("a", "failed", error="error: boom"),
        record("b", "finished", 2.0),
        record("c", "incomplete"),
        record("d", "finished", 1.0),
    ]
    assert [r.path.name for r in sort_runs(records)] == ["d", "b", "c", "a"]
    table = comparison_table(records)
    assert [column.header for column in table.columns][-1] == "error"
    assert table.row_count == 4


def test_compare_prints_runs_and_writes_png(tmp_path):
    runs = [tmp_path / "lr1", tmp_path / "lr2"]
    for run, lr in zip(runs, ("1e-3", "3e-2"), strict=True):
        train_tiny("vae", run, f"optimizer.lr={lr}", steps=10)
    png, table = tmp_path / "curves.png", tmp_path / "runs.csv"
    result = run_genopt(
        "compare", *map(str, runs), "--png", str(png), "--csv", str(table), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "optimizer.lr=1e-3" in result.stdout
    assert "optimizer.lr=3e-2" in result.stdout
    assert png.stat().st_size > 10_000
    rows = list(csv.DictReader(table.open()))
    assert len(rows) == 2
    assert float(rows[0]["target_value"]) <= float(rows[1]["target_value"])


def test_compare_missing_folder(tmp_path):
    result = run_genopt("compare", str(tmp_path / "nope"), cwd=tmp_path)
    assert result.returncode == 2
    assert "not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_hparams_written_to_run_events(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    run = tmp_path / "run"
    train_tiny("vae", run, "optimizer.lr=0.002", steps=5)
    assert len(list((run / "tb").iterdir())) == 1  # no subfolder
    accumulator = EventAccumulator(str(run / "tb"))
    accumulator.Reload()
    content = accumulator.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    assert start.hparams["optimizer.lr"].number_value == pytest.approx(0.002)
    assert start.hparams["model.name"].string_value == "vae"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(
        accumulator.PluginTagToContent("hparams")["_hparams_/experiment"]
    ).experiment
    assert "val/nelbo" in [info.name.tag for info in experiment.metric_infos]


def health_checks(run):
    return [item["check"] for item in json.loads((run / "health.json").read_text())]


def test_lr_far_too_high_warns_and_doctor_explains(tmp_path):
    run = tmp_path / "run"
    train_tiny("vae", run, "optimizer.lr=3", "trainer.clip_grad_norm=1", steps=100)
    checks = health_checks(run)
    assert "grad_norm_spike" in checks
    assert "loss_rising" in checks
    (run / "health.json").unlink()  # doctor replays the checks from the TensorBoard scalars
    result = run_genopt("doctor", str(run), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "grad_norm_spike" in result.stdout
    assert "loss_rising" in result.stdout
    assert "train/loss" in result.stdout


def test_collapsed_vae_warns(tmp_path):
    run = tmp_path / "run"
    train_tiny("vae", run, "model.beta=50", "model.kl_schedule=null", steps=60)
    assert health_checks(run) == ["posterior_collapse"]


def test_strong_discriminator_warns(tmp_path):
    run = tmp_path / "run"
    train_tiny(
        "gan",
        run,
        "players.discriminator.lr=2e-3",
        "players.generator.lr=1e-5",
        "model.r1_gamma=null",
        "model.spectral_norm=false",
        "trainer.log_every=2",
        steps=30,
    )
    assert "discriminator_wins" in health_checks(run)


@pytest.mark.parametrize("model", ["vae", "gan"])
def test_default_recipe_is_quiet(model, tmp_path):
    run = tmp_path / "run"
    train_tiny(model, run, steps=60)
    assert health_checks(run) == []
    result = run_genopt("doctor", str(run), cwd=tmp_path)
    assert "no problems found" in result.stdout


def test_doctor_shows_failed_run_error(tmp_path):
    run = tmp_path / "run"
    result = run_genopt(
        "train",
        "model=vae",
        "model.hidden_dims=[32]",
        "schedule.warmup_steps=1",
        "optimizer.lr=1e9",
        "trainer.max_steps=10",
        "trainer.log_every=5",
        f"hydra.run.dir={run}",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    result = run_genopt("doctor", str(run), cwd=tmp_path)
    assert "failed" in result.stdout
    assert "non-finite value at step" in result.stdout
    assert "player model" in result.stdout
