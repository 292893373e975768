"""Bad names and keys on the command line exit with a short message and no run folder."""

import pytest

from tests.helpers import run_genopt

CASES = [
    (["model=vea"], ["model=vea", "did you mean 'vae'", "ddpm, gan, transformer, vae"]),
    (["optimizer=adamx"], ["optimizer=adamx", "did you mean 'adam'", "sgd"]),
    (["trainer.max_stpes=5"], ["trainer.max_stpes", "did you mean 'max_steps'"]),
    (["trainer.max_steps=abc"], ["trainer.max_steps", "abc"]),
    (["optimizer.lr=-1"], ["optimizer.lr=-1", "> 0"]),
    (["model=transformer", "data=digits"], ["data=digits", "data=text"]),
    (
        ["model=vae", "players.generator.lr=1e-3"],
        ["'generator' is not a key of players", "valid: model"],
    ),
    (["optimizer.foreach=true"], ["optimizer.foreach=true", "optimizer.fused=false"]),
    (["+optimizer.momentun=0.9"], ["optimizer.momentun", "torch.optim.AdamW", "amsgrad"]),
    (["+lerning_rate=0.1"], ["lerning_rate is not a key of the config", "optimizer"]),
    (["trainer.precision=fp8"], ["trainer.precision=fp8", "bf16", "fp16", "fp32"]),
    (["model=vae", "schedule.warmup_steps=90000"], ["schedule.warmup_steps=90000", "max_steps"]),
]


@pytest.mark.parametrize(("overrides", "expected"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_override_message(overrides, expected, tmp_path):
    result = run_genopt("train", *overrides, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for words in expected:
        assert words in result.stderr, (words, result.stderr)
    assert not (tmp_path / "outputs").exists()


def test_bad_value_in_sweep_is_named(tmp_path):
    result = run_genopt("train", "-m", "model=vae", "optimizer.lr=1e-3,-2", cwd=tmp_path)
    assert result.returncode == 2
    assert "optimizer.lr=-2" in result.stderr
    assert not (tmp_path / "outputs").exists()


def test_unknown_command(tmp_path):
    result = run_genopt("trian", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown command 'trian'" in result.stderr


def test_help_lists_commands(tmp_path):
    result = run_genopt("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("train", "sample", "recipes", "list"):
        assert command in result.stdout
