"""Write a lab run's folder: the PNG plots and the TensorBoard scalars lab/gap/METHOD."""

from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from genopt_cli.lab.plots import plot_gaps, plot_trajectories
from genopt_cli.lab.problem import Problem
from genopt_cli.lab.trace import Trace


def write_run(problem: Problem, traces: dict[str, Trace], step_label: str, directory: Path):
    """Write gap.png, trajectories.png (2-D only) and tb/ under `directory`; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    gaps = {name: [problem.error(x) for x in trace.points] for name, trace in traces.items()}
    written = [directory / "gap.png"]
    plot_gaps(problem, gaps, step_label, written[0])
    if problem.dim == 2:
        written.append(directory / "trajectories.png")
        plot_trajectories(problem, traces, written[-1])
    with SummaryWriter(log_dir=str(directory / "tb")) as writer:
        for name, values in gaps.items():
            for step, value in enumerate(values):
                writer.add_scalar(f"lab/gap/{name}", value, step)
    written.append(directory / "tb")
    return written
