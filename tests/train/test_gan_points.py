"""The GAN on 2-D points trains through the CLI and reports mode coverage."""

from PIL import Image

from tests.helpers import read_scalars, read_summary, read_tags, run_genopt


def test_gan_on_gaussians_reports_modes(tmp_path):
    run_dir = tmp_path / "run"
    result = run_genopt(
        "train",
        "model=gan",
        "data=gaussians8",
        "model.mlp_hidden_dims=[32,32]",
        "trainer.max_steps=20",
        "trainer.log_every=10",
        "trainer.eval_every=10",
        "data.train_size=1000",
        "data.eval_samples=200",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    metrics = read_summary(run_dir)["metrics"]
    assert 0 <= metrics["eval/modes_covered"] <= 8
    assert metrics["eval/modes_covered"] == int(metrics["eval/modes_covered"])
    assert 0 <= metrics["eval/high_quality_share"] <= 1
    scalars = read_scalars(run_dir)
    assert [step for step, _ in scalars["eval/modes_covered"]] == [9, 19]
    assert "train/r1" in scalars
    assert "samples" in read_tags(run_dir)["images"]

    scatter = run_dir / "samples" / "step-000020.png"
    with Image.open(scatter) as image:
        assert image.size == (500, 500)

    sampled = run_genopt("sample", str(run_dir), "--num", "50", cwd=tmp_path)
    assert sampled.returncode == 0, sampled.stderr
    assert (run_dir / "samples" / "sample-step20-seed0.png").is_file()


def test_penalties_under_fp16(tmp_path):
    """The penalties take the discriminator's gradient scaler and stay finite under fp16."""
    run_dir = tmp_path / "run"
    result = run_genopt(
        "train",
        "model=gan",
        "data=gaussians8",
        "model.mlp_hidden_dims=[32,32]",
        "model.r1_every=1",
        "model.gp_lambda=1.0",
        "trainer.precision=fp16",
        "trainer.max_steps=10",
        "trainer.log_every=5",
        "data.train_size=1000",
        "data.eval_samples=200",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    scalars = read_scalars(run_dir)
    for tag in ("train/r1", "train/gradient_penalty", "amp/scale/discriminator"):
        assert [step for step, _ in scalars[tag]] == [4, 9], tag
    assert all(0 < value < 100 for _, value in scalars["train/r1"])
    assert all(0 < value < 100 for _, value in scalars["train/gradient_penalty"])
