"""Resume: a run continued from a checkpoint ends bit for bit where the uninterrupted run ends."""

import errno
import shutil

import pytest
import torch
from omegaconf import open_dict
from rich.console import Console

from genopt_cli.config.compose import compose_config
from genopt_cli.config.errors import GenoptError
from genopt_cli.config.resume import resume_arguments
from genopt_cli.train.checkpoint import load_checkpoint
from genopt_cli.train.run import train
from tests.helpers import TINY


def run(overrides: list[str], run_dir, resume: bool = False) -> dict:
    cfg = compose_config(overrides)
    if resume:
        with open_dict(cfg):
            cfg.resume = str(run_dir)
    console = Console(file=open("/dev/null", "w"))  # noqa: SIM115
    return train(cfg, run_dir, run_dir.parent, console)


def assert_same_state(a: dict, b: dict, path: str = "") -> None:
    """Every tensor equal bit for bit, every other value equal, recursively."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            if key not in ("rng", "config"):
                assert_same_state(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


def resume_matches(tmp_path, model: str, *extra: str, steps: int = 6, stop: int = 3) -> None:
    overrides = [
        f"model={model}",
        *TINY[model],
        f"trainer.max_steps={steps}",
        f"trainer.checkpoint_every={stop}",
        "trainer.keep_checkpoints=10",
        "trainer.log_every=2",
        "trainer.num_samples=2",
        "schedule=cosine",
        "schedule.warmup_steps=2",
        *extra,
    ]
    whole = tmp_path / "whole"
    run(overrides, whole)
    resumed = tmp_path / "resumed"
    (resumed / "checkpoints").mkdir(parents=True)
    shutil.copy(whole / "checkpoints" / f"step-{stop:07d}.pt", resumed / "checkpoints" / "last.pt")
    summary = run(overrides, resumed, resume=True)
    assert summary["status"] == "finished"
    assert summary["steps"] == steps
    assert_same_state(
        load_checkpoint(whole / "checkpoints" / "last.pt"),
        load_checkpoint(resumed / "checkpoints" / "last.pt"),
    )


@pytest.mark.parametrize("model", ["vae", "gan", "ddpm", "transformer"])
def test_resume_is_bit_exact(tmp_path, model):
    resume_matches(tmp_path, model, "trainer.ema.decay=0.9")


def test_resume_is_bit_exact_with_accumulation(tmp_path):
    resume_matches(tmp_path, "transformer", "trainer.accumulate=3", "data.batch_size=6")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_resume_is_bit_exact_in_mixed_precision(tmp_path, precision):
    resume_matches(tmp_path, "vae", f"trainer.precision={precision}", "trainer.ema.decay=0.9")


def test_resume_is_bit_exact_with_schedule_free(tmp_path):
    resume_matches(tmp_path, "vae", "optimizer=schedulefree_adamw", "schedule=constant")


def test_resume_continues_the_same_folder_and_checkpoints(tmp_path):
    overrides = ["model=vae", *TINY["vae"], "trainer.max_steps=4", "trainer.checkpoint_every=1"]
    run_dir = tmp_path / "run"
    run([*overrides, "trainer.keep_checkpoints=2"], run_dir)
    names = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert names == ["last.pt", "step-0000003.pt", "step-0000004.pt"]
    assert (run_dir / "checkpoints" / "last.pt").samefile(
        run_dir / "checkpoints" / "step-0000004.pt"
    )
    summary = run([*overrides, "trainer.max_steps=6", "trainer.keep_checkpoints=2"], run_dir, True)
    assert summary["steps"] == 6
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["step"] == 6


def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    overrides = ["model=vae", *TINY["vae"], "trainer.max_steps=4", "trainer.checkpoint_every=2"]
    run_dir = tmp_path / "run"
    run(overrides, run_dir)
    before = load_checkpoint(run_dir / "checkpoints" / "last.pt")

    def full_disk(state, handle):
        handle.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(GenoptError) as raised:
        run([*overrides, "trainer.max_steps=6"], run_dir, resume=True)
    message = raised.value.render()
    assert "could not write checkpoint" in message
    assert "No space left on device" in message
    assert "previous checkpoint in that folder is intact" in message
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "last.pt",
        "step-0000002.pt",
        "step-0000004.pt",
    ]
    assert_same_state(before, load_checkpoint(run_dir / "checkpoints" / "last.pt"))


def test_resume_arguments_keep_hydra_flags_first(tmp_path):
    run_dir = tmp_path / "outputs" / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text("- model=vae\n- resume=old\n")
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "last.pt").write_bytes(b"")
    for arguments in (
        ["--cfg", "job", "resume=latest", "model=vae"],
        ["resume=outputs/run", "-c", "job"],
    ):
        rewritten = resume_arguments(arguments, tmp_path)
        assert rewritten[:2] in (["--cfg", "job"], ["-c", "job"])
        assert rewritten[2] == "model=vae"
        assert rewritten[-2:] == [f"resume='{run_dir}'", f"hydra.run.dir='{run_dir}'"]
