"""Time `genopt train` from process start to its first optimizer step, against importing torch.

Each round starts `python -c "import torch"` and then bench/first_step.py for each family, which
runs the genopt command line until its first optimizer step. Figures are medians over rounds.

    python bench/startup.py [--quick] [--families vae transformer]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import machine_line, markdown_table

BENCH = Path(__file__).resolve().parent


def time_import_torch() -> float:
    started = time.time()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    return time.time() - started


def time_first_step(family: str, folder: Path) -> float:
    """Return the seconds from starting `genopt train model=FAMILY` to its first step."""
    started = time.time()
    command = [sys.executable, str(BENCH / "first_step.py"), "train", f"model={family}"]
    command += ["trainer.device=cpu", f"hydra.run.dir={folder}"]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    for line in result.stdout.splitlines():
        if line.startswith("first_step_time "):
            return float(line.split()[1]) - started
    raise RuntimeError(f"model={family}: no first step reported; stderr:\n{result.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 7")
    parser.add_argument("--families", nargs="+", default=["vae", "transformer"])
    args = parser.parse_args()

    torch_row = 'python -c "import torch"'
    timings = {torch_row: [], **{f"genopt train model={f}": [] for f in args.families}}
    with tempfile.TemporaryDirectory() as scratch:
        for round_index in range(3 if args.quick else 7):
            timings[torch_row].append(time_import_torch())
            for family in args.families:
                folder = Path(scratch) / f"{family}{round_index}"
                timings[f"genopt train model={family}"].append(time_first_step(family, folder))

    torch_seconds = statistics.median(timings[torch_row])
    rows = []
    for name, values in timings.items():
        seconds = statistics.median(values)
        rows.append([name, f"{seconds:.2f}", f"{seconds / torch_seconds:.2f}"])
    print(machine_line())
    print(markdown_table(["command", "seconds", "ratio to import torch"], rows))


if __name__ == "__main__":
    main()
