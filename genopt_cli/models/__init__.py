"""Model families, looked up by `model.name`."""

from omegaconf import DictConfig

from genopt_cli.data.base import Dataset
from genopt_cli.models.base import Task
from genopt_cli.models.ddpm import DDPMTask
from genopt_cli.models.gan import GANTask
from genopt_cli.models.transformer import TransformerTask
from genopt_cli.models.vae import VAETask

# model.name -> task class. Every name here has a file in configs/model/.
TASKS: dict[str, type[Task]] = {
    "vae": VAETask,
    "gan": GANTask,
    "ddpm": DDPMTask,
    "transformer": TransformerTask,
}


def build_task(cfg: DictConfig, dataset: Dataset) -> Task:
    return TASKS[cfg.name].build(cfg, dataset)


__all__ = ["TASKS", "Task", "build_task"]
