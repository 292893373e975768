"""Every optimizer trains every family for a few steps, or the config check rejects the pair."""

import math

import pytest
import torch

from genopt_cli.config.compose import compose_config, group_options
from genopt_cli.config.validate import validate
from genopt_cli.data import build_dataset
from genopt_cli.models import build_task
from genopt_cli.train.loop import Trainer
from genopt_cli.train.run import build_players
from genopt_cli.train.state import checkpoint_state
from tests.helpers import TINY

# Pairs that cannot work, with a word that the rejection must contain.
REJECTED = {("lbfgs", "gan"): "play a game"}
FAMILIES = ["vae", "ddpm", "gan", "transformer"]
# Smaller still than TINY, because this file trains 52 pairs.
SMALLER = {"ddpm": ["model.channels=[8,16]", "model.time_dim=16"]}


@pytest.fixture(autouse=True)
def flush_denormals():
    """Flush subnormal floats to zero while these tests run.

    L-BFGS's trial steps leave some UNet weights subnormal, which makes CPU convolutions about
    ten times slower; the checks here do not depend on such values.
    """
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)  # torch's default


def compose(model: str, optimizer: str, *extra: str):
    overrides = [f"model={model}", *TINY[model], *SMALLER.get(model, [])]
    # A constant schedule suits schedule-free AdamW, and no recipe's min_lr exceeds the lr.
    overrides += [f"optimizer={optimizer}", "data.batch_size=4", "schedule=constant"]
    if optimizer == "lbfgs":
        overrides.append("optimizer.max_iter=3")
    return compose_config([*overrides, *extra])


def train_steps(cfg, steps: int = 2) -> tuple[Trainer, dict, dict[str, bool]]:
    """Train `steps` steps; return the trainer, the logged values and whether each player moved."""
    torch.manual_seed(0)
    device = torch.device("cpu")
    dataset = build_dataset(cfg.data, None)
    task = build_task(cfg.model, dataset).to(device)
    players = build_players(cfg, task, device)
    batches = task.make_batches(dataset, cfg.data.batch_size, seed=0)
    trainer = Trainer(task, players, batches, 1, "fp32", device)
    before = {p.name: [q.detach().clone() for q in p.parameters] for p in players}
    for step in range(steps):
        trainer.train_step(step, log_now=True)
    moved = {
        p.name: any(
            not torch.equal(a, b) for a, b in zip(before[p.name], p.parameters, strict=True)
        )
        for p in players
    }
    return trainer, trainer.collect(steps - 1), moved


@pytest.mark.parametrize("model", FAMILIES)
@pytest.mark.parametrize("optimizer", group_options("optimizer"))
def test_optimizer_trains_family(optimizer, model):
    cfg = compose(model, optimizer)
    problems = validate(cfg)
    if (optimizer, model) in REJECTED:
        assert any(REJECTED[optimizer, model] in problem for problem in problems), problems
        assert any(f"optimizer={optimizer}" in problem for problem in problems), problems
        return
    assert problems == []
    trainer, values, moved = train_steps(cfg)
    assert all(moved.values()), moved
    for player in trainer.players:
        assert f"optim/lr/{player.name}" in values
        for group in player.optimizer.param_groups[1:]:
            assert f"optim/lr/{player.name}/{group['name']}" in values
    losses = [v for tag, v in values.items() if tag.startswith("train/loss")]
    assert losses and all(math.isfinite(v) for v in losses)
    checkpoint_state(cfg, trainer, 2)
