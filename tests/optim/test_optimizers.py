"""Parameter groups, per-player overrides and the optimizers' first steps."""

import pytest
import torch
from torch import nn

from genopt_cli.config.compose import compose_config
from genopt_cli.optim import (
    build_optimizer,
    player_optimizer_config,
    requires_closure,
    set_optimizer_mode,
)
from genopt_cli.optim.param_groups import decay_groups


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(5, 4)
        self.linear = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)
        self.head = nn.Linear(4, 5, bias=False)
        self.head.weight = self.embedding.weight


def test_decay_groups_exclude_bias_norm_embedding():
    model = Tiny()
    groups = {g["name"]: g for g in decay_groups(model, 0.1, ["bias", "norm", "embedding"])}
    assert [p is model.linear.weight for p in groups["decay"]["params"]] == [True]
    no_decay = groups["no_decay"]["params"]
    assert len(no_decay) == 4  # embedding (tied with head, once), linear bias, norm weight, bias
    assert groups["no_decay"]["weight_decay"] == 0.0
    assert groups["decay"]["weight_decay"] == 0.1


def test_decay_groups_without_rules():
    groups = decay_groups(Tiny(), 0.1, [])
    assert [g["name"] for g in groups] == ["decay"]
    assert len(groups[0]["params"]) == 5


def test_adamw_decays_only_the_decay_group():
    """With zero gradients AdamW multiplies decayed weights by 1 - lr x wd exactly."""
    cfg = compose_config(["optimizer=adamw", "optimizer.lr=0.1", "optimizer.weight_decay=0.5"])
    model = Tiny()
    optimizer = build_optimizer(player_optimizer_config(cfg, "model"), model, "model")
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    assert torch.equal(model.linear.weight, before["linear.weight"] * (1 - 0.1 * 0.5))
    assert torch.equal(model.linear.bias, before["linear.bias"])
    assert torch.equal(model.norm.weight, before["norm.weight"])
    assert torch.equal(model.embedding.weight, before["embedding.weight"])


def test_adam_first_step_is_lr_times_sign():
    cfg = compose_config(["optimizer=adam", "optimizer.lr=0.01"])
    model = nn.Linear(3, 2)
    optimizer = build_optimizer(player_optimizer_config(cfg, "model"), model, "model")
    before = [p.detach().clone() for p in model.parameters()]
    loss = model(torch.randn(8, 3)).pow(2).sum()
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    optimizer.step()
    for p, p0, g in zip(model.parameters(), before, grads, strict=True):
        torch.testing.assert_close(p, p0 - 0.01 * g.sign(), atol=1e-7, rtol=0)


def test_player_override_wins():
    cfg = compose_config(
        ["model=gan", "players.discriminator.lr=4e-4", "players.generator.betas=[0.5,0.9]"]
    )
    assert player_optimizer_config(cfg, "discriminator").lr == pytest.approx(4e-4)
    assert list(player_optimizer_config(cfg, "generator").betas) == [0.5, 0.9]
    assert list(player_optimizer_config(cfg, "discriminator").betas) == [0.0, 0.99]


# AdaGrad's steps shrink as squared gradients add up and Adafactor's scale with the weights'
# RMS, so both need a larger lr. LAMB's steps scale with the weights' norm, Lion moves every
# coordinate by lr, and Muon's matrix here is a single row. Every optimizer config is listed,
# and test_update_rules.py checks each update rule.
LOWERING_LR = {
    "sgd": 0.05,
    "momentum": 0.05,
    "nesterov": 0.05,
    "adagrad": 0.5,
    "rmsprop": 0.05,
    "adam": 0.05,
    "adamw": 0.05,
    "lbfgs": 1.0,
    "lamb": 0.1,
    "lion": 0.05,
    "adafactor": 0.5,
    "muon": 0.2,
    "schedulefree_adamw": 0.05,
}


@pytest.mark.parametrize("name", sorted(LOWERING_LR))
def test_every_optimizer_lowers_a_quadratic(name):
    cfg = compose_config([f"optimizer={name}", f"optimizer.lr={LOWERING_LR[name]}"])
    torch.manual_seed(0)  # the initial weights, so the result does not depend on test order
    model = nn.Linear(4, 1)
    optimizer = build_optimizer(player_optimizer_config(cfg, "model"), model, "model")
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    set_optimizer_mode(optimizer, training=True)
    losses = []

    def closure():
        optimizer.zero_grad()
        loss = (model(x) - y).pow(2).mean()
        loss.backward()
        return loss

    for _ in range(50):
        losses.append(closure().item())
        if requires_closure(optimizer):
            optimizer.step(closure)
        else:
            optimizer.step()
    assert losses[-1] < 0.5 * losses[0]


def test_every_optimizer_config_is_tested():
    from genopt_cli.config.compose import group_options

    assert sorted(LOWERING_LR) == group_options("optimizer")
