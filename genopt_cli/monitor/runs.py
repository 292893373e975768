"""Read run folders back: their overrides, summary.json, health.json and TensorBoard scalars.

`genopt compare`, `genopt doctor` and the sweep summary share these readers.
"""

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from genopt_cli.config.errors import GenoptError


@dataclass
class RunRecord:
    """One run folder as read from disk. `status` is finished, failed or incomplete."""

    path: Path
    overrides: list[str]
    status: str
    steps: int | None = None
    wall_time_s: float | None = None
    target_metric: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    @property
    def target_value(self) -> float | None:
        if self.target_metric is None:
            return None
        return self.metrics.get(self.target_metric)

    def sort_key(self) -> tuple:
        """Order finished runs by their target metric, lowest first, then the others."""
        value = self.target_value
        if self.status == "finished" and value is not None and math.isfinite(value):
            return (0, value, str(self.path))
        return ({"finished": 1, "incomplete": 2, "failed": 3}[self.status], 0.0, str(self.path))


def is_run_dir(path: Path) -> bool:
    return (path / ".hydra").is_dir() or (path / "summary.json").is_file()


def _job_order(path: Path) -> tuple:
    """Sort sweep jobs by their number (the `N_` prefix of the folder), then by name."""
    match = re.match(r"(\d+)_", path.name)
    return (str(path.parent), int(match.group(1)) if match else -1, path.name)


def find_runs(paths: list[Path]) -> list[Path]:
    """Return every run folder given, or found below a given folder (a sweep folder)."""
    runs: list[Path] = []
    for path in paths:
        if not path.is_dir():
            raise GenoptError(f"folder {path} not found; pass run folders or a sweep folder")
        if is_run_dir(path):
            runs.append(path)
            continue
        below = {marker.parent for marker in path.rglob("summary.json")}
        below |= {marker.parent for marker in path.rglob(".hydra") if marker.is_dir()}
        if not below:
            raise GenoptError(
                f"{path} contains no run folders (no summary.json or .hydra/ below it); "
                "pass a run folder or a sweep folder under outputs/"
            )
        runs.extend(sorted(below, key=_job_order))
    return list(dict.fromkeys(runs))


def read_overrides(run_dir: Path) -> list[str]:
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    return [str(item) for item in yaml.safe_load(path.read_text()) or []]


def read_run(run_dir: Path) -> RunRecord:
    """Read a run folder. A run without summary.json is still running or was killed."""
    record = RunRecord(path=run_dir, overrides=read_overrides(run_dir), status="incomplete")
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        return record
    summary = json.loads(summary_path.read_text())
    record.status = summary.get("status", "finished")
    record.error = summary.get("error")
    record.steps = summary.get("steps")
    record.wall_time_s = summary.get("wall_time_s")
    record.target_metric = summary.get("target_metric")
    record.metrics = dict(summary.get("metrics", {}))
    processes = summary.get("processes", 1)
    if processes != 1 and not any(o.startswith("trainer.devices=") for o in record.overrides):
        # A torchrun run's process count is not among its overrides, so it is shown as one.
        record.overrides.append(f"processes={processes}")
    return record


def read_health(run_dir: Path) -> list[dict]:
    path = run_dir / "health.json"
    if not path.is_file():
        return []
    return json.loads(path.read_text())


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Return every scalar in the run's TensorBoard events as (step, value) pairs."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb_dir = run_dir / "tb"
    if not tb_dir.is_dir():
        return {}
    accumulator = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {
        tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def varying_overrides(records: list[RunRecord]) -> list[list[str]]:
    """Return each run's overrides less those that every run shares."""
    if len(records) < 2:
        return [record.overrides for record in records]
    shared = set.intersection(*(set(record.overrides) for record in records))
    return [[item for item in record.overrides if item not in shared] for record in records]


def run_label(record: RunRecord, varying: list[str]) -> str:
    return " ".join(varying) if varying else record.path.name
