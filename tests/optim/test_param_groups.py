"""Parameter groups: decay exclusions, layer-wise lr decay and Muon's routing, per group."""

import pytest
import torch
from torch import nn

from genopt_cli.config.compose import compose_config
from genopt_cli.models.transformer import GPT
from genopt_cli.models.unet import UNet
from genopt_cli.optim import build_optimizer, build_schedule, player_optimizer_config
from genopt_cli.optim.param_groups import build_param_groups


def gpt(n_layer: int = 3) -> GPT:
    return GPT(vocab_size=11, context_length=8, n_layer=n_layer, n_head=2, n_embd=8, dropout=0.0)


def groups_by_name(optimizer) -> dict[str, dict]:
    return {group["name"]: group for group in optimizer.param_groups}


def optimizer_for(module: nn.Module, *overrides: str):
    cfg = compose_config(["optimizer=adamw", *overrides])
    return build_optimizer(player_optimizer_config(cfg, "model"), module, "model")


def test_layer_decay_lr_per_transformer_block():
    """lr x decay^(depth from the top): head 0, block2 1, block1 2, block0 3, embedding 4."""
    optimizer = optimizer_for(
        gpt(), "optimizer.lr=0.01", "optimizer.weight_decay=0.1", "optimizer.layer_decay=0.5"
    )
    groups = groups_by_name(optimizer)
    expected_depth = {"head": 0, "block2": 1, "block1": 2, "block0": 3, "embedding": 4}
    for layer, depth in expected_depth.items():
        for name, group in groups.items():
            if name == layer or name.startswith(f"{layer}_"):
                assert group["lr"] == pytest.approx(0.01 * 0.5**depth), name
    assert groups["block1"]["weight_decay"] == 0.1
    assert groups["block1_no_decay"]["weight_decay"] == 0.0
    assert groups["embedding_no_decay"]["weight_decay"] == 0.0
    assert "embedding" not in groups  # embeddings are excluded from decay by default
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01)


def test_layer_decay_places_each_parameter_once():
    model = gpt()
    optimizer = optimizer_for(model, "optimizer.layer_decay=0.8")
    placed = [p for group in optimizer.param_groups for p in group["params"]]
    assert len(placed) == len({id(p) for p in placed})
    assert {id(p) for p in placed} == {id(p) for p in model.parameters()}
    block0 = groups_by_name(optimizer)["block0"]["params"]
    assert any(p is model.blocks[0].attention.qkv.weight for p in block0)


def test_layer_decay_unet_levels():
    model = UNet(1, [8, 16], [1], 16)
    optimizer = optimizer_for(model, "optimizer.lr=0.1", "optimizer.layer_decay=0.5")
    lrs = {name.removesuffix("_no_decay"): g["lr"] for name, g in groups_by_name(optimizer).items()}
    order = ["head", "up0", "up1", "middle", "down1", "down0", "stem"]
    assert list(dict.fromkeys(lrs)) == order
    for depth, layer in enumerate(order):
        assert lrs[layer] == pytest.approx(0.1 * 0.5**depth), layer


def test_schedule_keeps_layer_ratios():
    optimizer = optimizer_for(gpt(1), "optimizer.lr=0.01", "optimizer.layer_decay=0.5")
    cfg = compose_config(["schedule=step", "schedule.step_size=1", "schedule.gamma=0.1"]).schedule
    schedule = build_schedule(optimizer, cfg, 10, 0.01)
    optimizer.step()
    schedule.step()
    for group in optimizer.param_groups:
        assert group["lr"] == pytest.approx(group["initial_lr"] * 0.1), group["name"]


def test_decay_exclude_rules_choose_groups():
    model = gpt(1)
    only_bias = build_param_groups(model, 0.01, 0.1, ["bias"])
    decayed = next(g for g in only_bias if g["name"] == "decay")["params"]
    assert any(p is model.token_embedding.weight for p in decayed)
    assert not any(p is model.blocks[0].ln1.weight for p in decayed)  # 1-D, so a "bias"
    nothing = build_param_groups(model, 0.01, 0.1, [])
    assert [g["name"] for g in nothing] == ["decay"]


def test_adamw_zero_gradient_decays_only_decay_groups():
    """With zero gradients AdamW multiplies decayed weights by exactly 1 - lr x wd."""
    model = gpt(2)
    optimizer = optimizer_for(
        model, "optimizer.lr=0.1", "optimizer.weight_decay=0.5", "optimizer.layer_decay=0.5"
    )
    before = {id(p): p.detach().clone() for p in model.parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    for group in optimizer.param_groups:
        factor = 1 - group["lr"] * group["weight_decay"]
        for p in group["params"]:
            assert torch.equal(p.detach(), before[id(p)] * factor), group["name"]
    assert torch.equal(model.ln_f.weight.detach(), before[id(model.ln_f.weight)])


def test_muon_routes_matrices_and_the_rest():
    model = gpt(1)
    cfg = compose_config(["optimizer=muon"])
    optimizer = build_optimizer(player_optimizer_config(cfg, "model"), model, "model")
    groups = groups_by_name(optimizer)
    assert set(groups) == {"muon", "adamw_no_decay"}
    assert all(p.ndim == 2 for p in groups["muon"]["params"])
    assert any(p is model.token_embedding.weight for p in groups["adamw_no_decay"]["params"])
    assert type(optimizer.optimizers["muon"]).__name__ == "Muon"
    assert type(optimizer.optimizers["adamw"]).__name__ == "AdamW"
