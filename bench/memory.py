"""Measure the peak resident memory of `genopt train model=vae` after 1,000 and 10,000 steps.

Each run is its own process, and its peak resident set size is the ru_maxrss that os.wait4
returns for it (KiB on Linux). A run that leaks memory every step peaks higher after more steps;
the growth per step is the difference divided by the extra steps.

    python bench/memory.py [--quick]
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import machine_line, markdown_table


def peak_rss_mib(steps: int, folder: Path) -> float:
    """Run the VAE for `steps` steps in a child process; return its peak RSS in MiB."""
    command = [sys.executable, "-m", "genopt_cli", "train", "model=vae"]
    command += [f"trainer.max_steps={steps}", "trainer.device=cpu", f"hydra.run.dir={folder}"]
    log_path = folder.parent / f"{folder.name}.stderr"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        # os.wait4 reaps the child itself, so Popen.wait must not run before it.
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(command)} failed with status {process.returncode}:\n{tail}")
    return usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="250 and 1,000 steps")
    args = parser.parse_args()
    # The VAE recipe warms the lr up over 200 steps, and a run must be longer than its warmup.
    short, long = (250, 1000) if args.quick else (1000, 10000)

    with tempfile.TemporaryDirectory() as scratch:
        peaks = {}
        for steps in (short, long):
            peaks[steps] = peak_rss_mib(steps, Path(scratch) / f"run{steps}")
    growth_kib = (peaks[long] - peaks[short]) * 1024 / (long - short)
    rows = [[f"{steps:,}", f"{peak:.1f}"] for steps, peak in peaks.items()]
    print(machine_line())
    print(markdown_table(["VAE steps", "peak RSS MiB"], rows))
    print(f"\n- growth from {short:,} to {long:,} steps: {growth_kib:.3f} KiB per step")


if __name__ == "__main__":
    main()
