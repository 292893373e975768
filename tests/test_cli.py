"""Bad names, keys, values and combinations exit with a short message and no run folder.

Each case runs the CLI's entry point in-process, so an uncaught exception would fail the test
with its traceback. Two cases run in a real process to check the exit status and output there.
"""

import pytest
import torch

from genopt_cli.cli import main
from tests.helpers import run_genopt

CASES = [
    (["model=vea"], ["model=vea", "did you mean 'vae'", "ddpm, gan, transformer, vae"]),
    (["optimizer=adamx"], ["optimizer=adamx", "did you mean 'adam'", "sgd"]),
    (["trainer.max_stpes=5"], ["trainer.max_stpes", "did you mean 'max_steps'"]),
    (["trainer.devce=cpu"], ["trainer.devce", "did you mean 'device'"]),
    (["trainer.max_steps=abc"], ["trainer.max_steps", "abc"]),
    (["optimizer.lr=-1"], ["optimizer.lr=-1", "> 0"]),
    (["optimizer.lr=0"], ["optimizer.lr=0", "> 0"]),
    (["optimizer.betas=[0.9,1.0]"], ["optimizer.betas=[0.9, 1.0]", "[0, 1)"]),
    (["optimizer.weight_decay=-0.1"], ["optimizer.weight_decay=-0.1", ">= 0"]),
    (["model=transformer", "data=digits"], ["data=digits", "data=text"]),
    (["model=vae", "data=text"], ["data=text holds text", "model=vae trains on images"]),
    (
        ["model=vae", "players.generator.lr=1e-3"],
        ["'generator' is not a key of players", "valid: model"],
    ),
    (["optimizer.foreach=true"], ["optimizer.foreach=true", "optimizer.fused=false"]),
    (["+optimizer.momentun=0.9"], ["optimizer.momentun", "torch.optim.AdamW", "amsgrad"]),
    (["+lerning_rate=0.1"], ["lerning_rate is not a key of the config", "optimizer"]),
    (["trainer.precision=fp8"], ["trainer.precision=fp8", "bf16", "fp16", "fp32"]),
    (["model=vae", "schedule.warmup_steps=90000"], ["schedule.warmup_steps=90000", "max_steps"]),
    (["data.batch_size=0"], ["data.batch_size=0", "> 0"]),
    (["model=vae", "data.batch_size=5000"], ["data.batch_size=5000", "1438 images"]),
    (["optimizer=lbfgs", "trainer.accumulate=2"], ["optimizer=lbfgs", "trainer.accumulate=1"]),
    (["trainer.on_nonfinite=ignore"], ["trainer.on_nonfinite=ignore", "valid: skip, stop"]),
    (["trainer.keep_checkpoints=0"], ["trainer.keep_checkpoints=0", "> 0"]),
    (["trainer.ema.decay=1.5"], ["trainer.ema.decay=1.5", "(0, 1)"]),
    (
        ["model=vae", "trainer.activation_checkpointing=true"],
        ["activation_checkpointing=true", "ddpm, transformer"],
    ),
    (
        ["schedule=cosine", "optimizer.lr=1e-3", "schedule.min_lr=0.1"],
        ["schedule.min_lr=0.1", "above optimizer.lr"],
    ),
    (["data=text_file", "model=transformer"], ["data=text_file needs data.path=FILE"]),
    (
        ["data=text_file", "model=transformer", "data.path=missing.txt"],
        ["data.path=missing.txt not found"],
    ),
    (["init_from=nowhere"], ["init_from=nowhere has no checkpoints/last.pt"]),
    (["resume=nowhere"], ["resume=nowhere", "does not exist", "resume=latest"]),
    (["resume=latest"], ["resume=latest found no run", "resume=outputs/DATE/TIME"]),
    (["hydra.run.dir=a_file/run"], ["a_file is a file", "hydra.run.dir=DIR"]),
    (["-m", "optimizer.lr=1e-3,-1"], ["[optimizer.lr=-1]", "optimizer.lr=-1 must be > 0"]),
    (["-m", "resume=latest"], ["resume cannot be used with -m"]),
    (["trainer.devices=0"], ["trainer.devices=0", "> 0"]),
    (
        ["model=vae", "data.batch_size=1000", "trainer.devices=2", "trainer.device=cpu"],
        ["data.batch_size=1000 x 2 processes = 2000", "data.batch_size=719"],
    ),
    (["optimizer.lr_scaling=cubic"], ["optimizer.lr_scaling=cubic", "linear, none, sqrt"]),
    (["trainer.sync_batchnorm=true"], ["trainer.sync_batchnorm=true needs CUDA"]),
    (["optimizer=lbfgs", "trainer.devices=2"], ["optimizer=lbfgs", "one process"]),
    (["trainer.device=cpu", "trainer.devices=2", "optimizer=lbfgs"], ["line search"]),
]
if not torch.cuda.is_available():
    CASES.append((["trainer.device=cuda"], ["trainer.device=cuda", "trainer.device=cpu"]))


@pytest.mark.parametrize(("overrides", "expected"), CASES, ids=[" ".join(c[0]) for c in CASES])
@pytest.mark.parametrize("command", ["train", "validate"])
def test_bad_input_message(command, overrides, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("")
    with pytest.raises(SystemExit) as exited:
        main([command, *overrides])
    assert exited.value.code == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("error")
    for words in expected:
        assert words in stderr, (words, stderr)
    assert not (tmp_path / "outputs").exists()


def test_validate_accepts_a_good_sweep(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(["validate", "-m", "model=vae", "optimizer=adam,adamw", "optimizer.lr=1e-3,3e-4"])
    assert "valid: 4 runs" in capsys.readouterr().out
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["train", "-m", "model=vae", "optimizer.lr=1e-3,-2"], "optimizer.lr=-2"),
        (["validate", "model=vea"], "did you mean 'vae'"),
    ],
)
def test_bad_input_in_a_real_process(args, words, tmp_path):
    result = run_genopt(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert words in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "outputs").exists()
