"""The metrics sink: TensorBoard event files under the run folder, plus the last value of each
scalar for summary.json."""

from pathlib import Path

import torch
import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf

# Keys every run reports to the HParams tab; the keys a run overrides are added to them.
HPARAM_KEYS = (
    "model.name",
    "data.name",
    "data.batch_size",
    "optimizer.name",
    "optimizer.lr",
    "optimizer.weight_decay",
    "schedule.name",
    "schedule.warmup_steps",
    "trainer.max_steps",
    "trainer.accumulate",
    "trainer.precision",
    "trainer.clip_grad_norm",
    "trainer.ema.decay",
    "trainer.seed",
)


def _hparam_value(value):
    """Convert a config value to a type the HParams plugin accepts: bool, int, float or str."""
    if isinstance(value, DictConfig):
        return str(value.name) if "name" in value else OmegaConf.to_yaml(value).strip()
    if isinstance(value, ListConfig):
        return str(OmegaConf.to_container(value))
    if value is None:
        return "null"
    return value if isinstance(value, bool | int | float | str) else str(value)


def run_hparams(cfg: DictConfig, run_dir: Path, processes: int = 1) -> dict:
    """Return the run's main settings, every key its command line overrides and its number of
    data-parallel processes."""
    keys = list(HPARAM_KEYS)
    overrides_path = run_dir / ".hydra" / "overrides.yaml"
    if overrides_path.is_file():
        for override in yaml.safe_load(overrides_path.read_text()) or []:
            key = str(override).split("=", 1)[0].lstrip("+~")
            if not key.startswith("hydra") and key not in keys:
                keys.append(key)
    hparams = {}
    for key in keys:
        value = OmegaConf.select(cfg, key.replace("/", "."), throw_on_missing=False)
        hparams[key] = _hparam_value(value)
    hparams["processes"] = processes
    return hparams


class TensorBoardSink:
    def __init__(self, log_dir: Path, purge_step: int | None = None):
        """`purge_step`: TensorBoard hides events at this step and later from earlier writers,
        which a resumed run uses to drop what the stopped run logged after its checkpoint."""
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)
        self.last: dict[str, float] = {}

    def scalars(self, values: dict[str, float], step: int) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)
            self.last[tag] = value

    def image(self, tag: str, image: torch.Tensor, step: int) -> None:
        self.writer.add_image(tag, image, step, dataformats="CHW")

    def text(self, tag: str, text: str, step: int) -> None:
        # TensorBoard renders text as Markdown; indenting by four spaces keeps it verbatim.
        self.writer.add_text(tag, "    " + text.replace("\n", "\n    "), step)

    def hparams(self, hparams: dict, metrics: dict[str, float]) -> None:
        """Write the run's hyperparameters for the HParams tab into this run's own events.

        SummaryWriter.add_hparams would write them to a new subfolder with a copy of each
        metric at step 0. The HParams tab reads each metric's value from the scalar of the same
        tag in the run, so every key of `metrics` must be a logged scalar.
        """
        from torch.utils.tensorboard.summary import hparams as hparams_summaries

        for summary in hparams_summaries(hparams, {tag: 0.0 for tag in metrics}):
            self.writer.file_writer.add_summary(summary)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
