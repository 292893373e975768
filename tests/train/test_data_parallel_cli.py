"""`genopt train` in two processes on the CPU (gloo): under torchrun and with trainer.devices=2.

Each test starts real processes, so the run is small: the tiny VAE for 8 steps.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from genopt_cli.train.checkpoint import load_checkpoint
from tests.helpers import TINY, read_scalars, read_summary

STEPS = 8
FAULT_SCRIPT = Path(__file__).with_name("fault_on_rank.py")
RUN = [
    "model=vae",
    *TINY["vae"],
    "data.batch_size=32",
    f"trainer.max_steps={STEPS}",
    "trainer.log_every=2",
    "trainer.eval_samples=null",
    "trainer.num_samples=4",
    "trainer.ema.decay=0.9",
]


def run(command: list[str], cwd: Path, **environment: str) -> subprocess.CompletedProcess:
    # One thread per process keeps two processes' sums in the same order in every launch.
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", **environment)
    return subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def torchrun(target: list[str], *overrides: str, cwd: Path, **environment: str):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", *target]
    return run([*command, *overrides], cwd, **environment)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    """Return the last checkpoint's weights and EMA weights, by prefixed name."""
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    live = {f"model.{k}": v for k, v in state["players"]["model"]["module"].items()}
    ema = {f"ema.{k}": v for k, v in state["ema"]["model"]["module"].items()}
    return {**live, **ema}


def test_nan_on_one_rank_stops_both(tmp_path):
    result = torchrun([str(FAULT_SCRIPT)], *RUN, "hydra.run.dir=nan", cwd=tmp_path, FAULT="nan")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert output.count("non-finite value at step 3") == 1, output[-3000:]
    assert "loss non-finite on rank 1" in output
    # Both processes stopped at the same update with the same exit code.
    assert output.count("exitcode  : 2") == 2, output[-3000:]
    summary = read_summary(tmp_path / "nan")
    assert summary["status"] == "failed"


def test_two_process_resume_is_exact(tmp_path):
    # Uninterrupted, with genopt starting the two processes.
    full = run(
        [
            sys.executable,
            "-m",
            "genopt_cli",
            "train",
            *RUN,
            "trainer.devices=2",
            "hydra.run.dir=full",
        ],
        tmp_path,
    )
    assert full.returncode == 0, full.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]  # one run folder
    assert len(list((tmp_path / "full" / "tb").glob("events.out.tfevents.*"))) == 1
    assert (tmp_path / "full" / ".hydra" / "overrides.yaml").is_file()
    assert read_summary(tmp_path / "full")["status"] == "finished"
    losses = read_scalars(tmp_path / "full")["train/loss"]
    assert [step for step, _ in losses] == [1, 3, 5, 7]
    assert "global batch 64 = 2 processes x data.batch_size 32" in full.stderr

    # Under torchrun: a SIGTERM to rank 1 alone at step 3 stops both after step 4 ...
    stopped = torchrun(
        [str(FAULT_SCRIPT)], *RUN, "hydra.run.dir=part", cwd=tmp_path, FAULT="sigterm"
    )
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    assert "[rank 1] SIGTERM received" in stopped.stderr
    summary = read_summary(tmp_path / "part")
    assert summary["status"] == "interrupted"
    assert summary["steps"] == 4
    assert summary["resume"] == "torchrun --nproc_per_node=2 -m genopt_cli train resume=part"
    state = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")
    assert state["world_size"] == 2
    assert len(state["rng_ranks"]) == 2

    # ... and the resumed run ends with the uninterrupted run's weights, bit for bit.
    resumed = torchrun(["-m", "genopt_cli", "train"], "resume=part", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert read_summary(tmp_path / "part")["status"] == "finished"
    expected, got = weights(tmp_path / "full"), weights(tmp_path / "part")
    assert all(torch.equal(expected[key], got[key]) for key in expected)


def test_resume_other_world_size_warns(tmp_path):
    first = run(
        [
            sys.executable,
            "-m",
            "genopt_cli",
            "train",
            *RUN,
            "trainer.max_steps=4",
            "trainer.devices=2",
            "hydra.run.dir=run",
        ],
        tmp_path,
    )
    assert first.returncode == 0, first.stderr[-3000:]
    again = run(
        [
            sys.executable,
            "-m",
            "genopt_cli",
            "train",
            "resume=run",
            f"trainer.max_steps={STEPS}",
            "trainer.devices=1",
        ],
        tmp_path,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    message = " ".join(again.stderr.split())
    assert "the checkpoint was written by 2 process(es) and this run has 1" in message
    assert read_summary(tmp_path / "run")["steps"] == STEPS


def _worker_pid(run_dir: Path, rank: int) -> int | None:
    """Return the pid of the training process of `rank` in `run_dir`, from /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"hydra.run.dir='{run_dir}'".encode() in command and f"RANK={rank}".encode() in (
            environment
        ):
            return int(entry.name)
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="needs Linux's /proc")
def test_killed_process_is_named_with_resume_command(tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "genopt_cli", "train", *RUN, "trainer.max_steps=100000"]
    command += ["trainer.checkpoint_every=5", "trainer.devices=2", f"hydra.run.dir={run_dir}"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    launcher = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / "checkpoints" / "last.pt").is_file():
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            assert launcher.poll() is None, launcher.communicate()[1][-3000:]
            time.sleep(0.2)
        pid = _worker_pid(run_dir, rank=1)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        _, stderr = launcher.communicate(timeout=120)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    message = " ".join(stderr.split())
    assert launcher.returncode == 1
    assert "the process of rank 1 was killed by SIGKILL" in message
    assert "resume from its last checkpoint with: genopt train resume=run" in message
    summary = read_summary(run_dir)
    assert summary["status"] == "failed"
    assert "rank 1 was killed by SIGKILL" in summary["error"]
