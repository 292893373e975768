"""The metrics sink: TensorBoard event files under the run folder, plus the last value of each
scalar for summary.json."""

from pathlib import Path

import torch


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

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
