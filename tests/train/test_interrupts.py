"""Killed, interrupted and tampered runs, driven through the CLI in subprocesses."""

import os
import pickle
import random
import signal
import subprocess
import sys
import time

import pytest

from genopt_cli.cli import main
from genopt_cli.train.checkpoint import load_checkpoint
from tests.helpers import TINY, read_summary, run_genopt

ENDLESS = [
    "model=vae",
    *TINY["vae"],
    "trainer.max_steps=1000000",
    "trainer.checkpoint_every=5",
    "trainer.log_every=100",
]


def start(args: list[str], cwd) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "genopt_cli", "train", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_checkpoint_after(path, step: int, process, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()[-3000:]
        if path.exists():
            try:
                if load_checkpoint(path)["step"] > step:
                    return
            except Exception:
                pass  # replaced while being read; try again
        time.sleep(0.1)
    raise AssertionError(f"no checkpoint after step {step} within {timeout} s")


def test_sigkill_leaves_resumable_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    last = run_dir / "checkpoints" / "last.pt"
    rng = random.Random(0)
    args = [*ENDLESS, f"hydra.run.dir={run_dir}"]
    step = 0
    for _ in range(5):
        process = start(args, tmp_path)
        wait_for_checkpoint_after(last, step, process)
        time.sleep(rng.uniform(0.0, 1.0))
        process.kill()
        process.communicate()
        state = load_checkpoint(last)  # readable after every kill
        assert state["step"] > step
        step = state["step"]
        args = [f"resume={run_dir}"]


def test_sigint_saves_and_prints_the_resume_command(tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "outputs" / "run"
    process = start([*ENDLESS, f"hydra.run.dir={run_dir}"], tmp_path)
    wait_for_checkpoint_after(run_dir / "checkpoints" / "last.pt", 0, process)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output[-3000:]
    assert "genopt train resume=outputs/run" in output
    assert "Traceback" not in output
    summary = read_summary(run_dir)
    assert summary["status"] == "interrupted"
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["step"] == summary["steps"]

    # The stopped run is the latest with these overrides; its shape cannot change on resume.
    monkeypatch.chdir(tmp_path)
    main(["validate", "resume=latest", *ENDLESS, "trainer.max_steps=2000000"])
    assert "valid: 1 run" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["validate", "resume=outputs/run", "model.latent_dim=8", "trainer.max_steps=1"])
    message = capsys.readouterr().err
    assert "resume cannot change model.latent_dim: the run has 4, this command gives 8" in message
    assert f"trainer.max_steps=1 is below step {summary['steps']}" in message


class Payload:
    """Unpickling this object creates the file `marker`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_object_checkpoint_rejected(tmp_path):
    import torch

    live = tmp_path / "live-marker"
    pickle.loads(pickle.dumps(Payload(live)))
    assert live.exists()  # the payload does run when unpickled without restriction

    marker = tmp_path / "marker"
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    torch.save({"step": 1, "payload": Payload(marker)}, run_dir / "checkpoints" / "last.pt")
    for args in (["sample", "run"], ["train", "resume=run"]):
        result = run_genopt(*args, cwd=tmp_path)
        assert result.returncode == 2, result.stderr[-2000:]
        assert "not a valid genopt checkpoint" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        assert not marker.exists()
