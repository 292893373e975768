"""Every family trains end to end through the CLI, with the run folder and tags in place."""

import math

import pytest

from tests.helpers import read_scalars, read_summary, read_tags, run_genopt, train_tiny

LOSS_TAGS = {
    "vae": ["train/loss"],
    "ddpm": ["train/loss"],
    "transformer": ["train/loss"],
    "gan": ["train/loss/discriminator", "train/loss/generator"],
}
PLAYERS = {
    "vae": ["model"],
    "ddpm": ["model"],
    "transformer": ["model"],
    "gan": ["discriminator", "generator"],
}


@pytest.mark.parametrize("model", ["vae", "ddpm", "gan", "transformer"])
def test_family_trains_with_falling_loss(model, tmp_path):
    run_dir = tmp_path / "run"
    train_tiny(model, run_dir, steps=40)

    for name in (".hydra/config.yaml", "train.log", "checkpoints/last.pt", "summary.json"):
        assert (run_dir / name).is_file(), name
    samples = list((run_dir / "samples").iterdir())
    assert [p.suffix for p in samples] == [".txt" if model == "transformer" else ".png"]

    scalars = read_scalars(run_dir)
    for player in PLAYERS[model]:
        assert f"optim/lr/{player}" in scalars
        assert f"optim/grad_norm/{player}" in scalars
        assert [step for step, _ in scalars[f"optim/lr/{player}"]] == [4, 9, 14, 19, 24, 29, 34, 39]
    for tag in LOSS_TAGS[model]:
        values = [value for _, value in scalars[tag]]
        assert all(math.isfinite(v) for v in values), (tag, values)
    # The GAN's generator loss rises while its discriminator learns; the discriminator's falls.
    falling = "train/loss/discriminator" if model == "gan" else "train/loss"
    values = [value for _, value in scalars[falling]]
    assert values[-1] < values[0], (falling, values)

    summary = read_summary(run_dir)
    assert summary["steps"] == 40
    assert summary["wall_time_s"] > 0
    assert summary["steps_per_s"] > 0
    assert summary["metrics"][LOSS_TAGS[model][0]] == pytest.approx(
        scalars[LOSS_TAGS[model][0]][-1][1]
    )


def test_samples_logged_to_tensorboard(tmp_path):
    run_dir = tmp_path / "run"
    train_tiny("vae", run_dir, steps=10)
    assert "samples" in read_tags(run_dir)["images"]


def test_logged_lr_is_lr_of_that_update(tmp_path):
    """With warmup W the update at step t uses lr x (t + 1) / W."""
    run_dir = tmp_path / "run"
    train_tiny("vae", run_dir, "schedule.warmup_steps=20", "optimizer.lr=0.002", steps=30)
    for step, value in read_scalars(run_dir)["optim/lr/model"]:
        expected = 0.002 * min(1.0, (step + 1) / 20)
        assert value == pytest.approx(expected, rel=1e-6), step


def test_sweep_makes_one_folder_per_run(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = run_genopt(
        "train",
        "-m",
        "model=vae",
        *[a for a in ("model.hidden_dims=[32]", "model.latent_dim=2", "schedule.warmup_steps=1")],
        "optimizer=adam,adamw",
        "trainer.max_steps=5",
        "trainer.log_every=5",
        "trainer.num_samples=4",
        f"hydra.sweep.dir={sweep_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted(p for p in sweep_dir.iterdir() if (p / "summary.json").is_file())
    assert len(runs) == 2
    assert "optimizer=adam" in runs[0].name
    assert "optimizer=adamw" in runs[1].name
    assert read_summary(runs[0])["status"] == "finished"


def test_sample_command_writes_samples(tmp_path):
    run_dir = tmp_path / "run"
    train_tiny("ddpm", run_dir, steps=5)
    result = run_genopt("sample", str(run_dir), "--num", "9", "--seed", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = run_dir / "samples" / "sample-step5-seed3.png"
    assert written.is_file()
    assert "EMA weights" in result.stderr


def test_text_sample_command(tmp_path):
    run_dir = tmp_path / "run"
    train_tiny("transformer", run_dir, steps=5)
    out = tmp_path / "out"
    result = run_genopt("sample", str(run_dir), "--num", "2", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = (out / "sample-step5-seed0.txt").read_text()
    assert len(text) > 40
