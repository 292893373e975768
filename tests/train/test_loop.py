"""The loop's gradient under accumulation equals the gradient of the whole batch."""

import torch

from genopt_cli.config.compose import compose_config
from genopt_cli.data import build_dataset
from genopt_cli.models import build_task
from genopt_cli.train.loop import Trainer
from genopt_cli.train.run import build_players


def gradients_after_step(model: str, accumulate: int, batch_size: int, extra=()):
    cfg = compose_config(
        [
            f"model={model}",
            f"data.batch_size={batch_size}",
            f"trainer.accumulate={accumulate}",
            "optimizer=sgd",
            "optimizer.lr=0.0",
            *extra,
        ]
    )
    torch.manual_seed(0)
    dataset = build_dataset(cfg.data, None)
    task = build_task(cfg.model, dataset).to(torch.device("cpu"))
    players = build_players(cfg, task, torch.device("cpu"))
    batches = task.make_batches(dataset, batch_size * accumulate, seed=0)
    trainer = Trainer(task, players, batches, accumulate, "fp32", torch.device("cpu"))
    torch.manual_seed(1)
    trainer.train_step(0, log_now=False)
    return [p.grad.clone() for p in players[0].parameters]


def test_accumulation_matches_large_batch_transformer():
    extra = ["model.n_layer=1", "model.n_embd=32", "model.n_head=2", "model.context_length=16"]
    whole = gradients_after_step("transformer", 1, 32, extra)
    accumulated = gradients_after_step("transformer", 4, 8, extra)
    for g1, g4 in zip(whole, accumulated, strict=True):
        torch.testing.assert_close(g4, g1, atol=1e-6, rtol=1e-5)
