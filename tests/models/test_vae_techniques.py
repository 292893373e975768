"""KL annealing schedules, free bits and the per-dimension KL of the VAE."""

import pytest
import torch

from genopt_cli.config.compose import compose_config
from genopt_cli.data import build_dataset
from genopt_cli.models import build_task


def vae(*overrides: str):
    cfg = compose_config(["model=vae", "model.hidden_dims=[32]", "model.latent_dim=3", *overrides])
    dataset = build_dataset(cfg.data, None)
    torch.manual_seed(0)
    return build_task(cfg.model, dataset).to(torch.device("cpu")), dataset


def test_linear_kl_weight_by_step():
    task, _ = vae("model.kl_schedule=linear", "model.kl_warmup_steps=4", "model.beta=2.0")
    weights = [task.kl_weight(step) for step in range(7)]
    assert weights == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.0, 2.0, 2.0])


def test_cyclical_kl_weight_by_step():
    task, _ = vae("model.kl_schedule=cyclical", "model.kl_warmup_steps=2", "model.kl_cycle_steps=4")
    weights = [task.kl_weight(step) for step in range(10)]
    assert weights == pytest.approx([0.5, 1.0, 1.0, 1.0, 0.5, 1.0, 1.0, 1.0, 0.5, 1.0])


def test_constant_kl_weight_is_beta():
    task, _ = vae("model.kl_schedule=null", "model.beta=4.0")
    assert [task.kl_weight(step) for step in (0, 1, 5000)] == [4.0, 4.0, 4.0]


def test_free_bits_closed_form():
    task, _ = vae("model.free_bits=0.25")
    # Batch means per dimension: 0.1, 0.5 and 2.0 nats.
    kl = torch.tensor([[0.0, 0.4, 1.0], [0.2, 0.6, 3.0]], requires_grad=True)
    penalty = task.kl_penalty(kl)
    assert penalty.item() == pytest.approx(0.25 + 0.5 + 2.0)
    penalty.backward()
    # The dimension below the floor gets no gradient; the others get 1 / batch per example.
    assert kl.grad[:, 0].tolist() == [0.0, 0.0]
    assert kl.grad[:, 1:].flatten().tolist() == pytest.approx([0.5] * 4)


def test_kl_penalty_without_free_bits_is_mean_total():
    task, _ = vae("model.free_bits=null")
    kl = torch.tensor([[0.0, 0.4, 1.0], [0.2, 0.6, 3.0]])
    assert task.kl_penalty(kl).item() == pytest.approx(kl.sum(1).mean().item())


def test_loss_uses_weight_and_free_bits():
    task, dataset = vae(
        "model.free_bits=0.5", "model.kl_schedule=linear", "model.kl_warmup_steps=10"
    )
    batch = dataset.train[:16]
    torch.manual_seed(3)
    loss, metrics = task.loss("model", batch, step=4)
    torch.manual_seed(3)
    reconstruction, kl = task._terms(task.players["model"], batch)
    floor = kl.mean(0).clamp(min=0.5).sum()
    expected = reconstruction.mean() + 0.5 * floor
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert metrics["train/kl_weight"].item() == pytest.approx(0.5)
    # train/kl is the true KL, not the floored one.
    assert metrics["train/kl"].item() == pytest.approx(kl.sum(1).mean().item(), rel=1e-6)


def test_evaluate_reports_kl_per_dimension():
    task, dataset = vae()
    metrics = task.evaluate(task.players, dataset)
    per_dimension = [metrics[f"eval/kl_dim/{i:02d}"] for i in range(3)]
    assert "eval/kl_dim/03" not in metrics
    assert all(value >= 0 for value in per_dimension)
    active = sum(value > 0.01 for value in per_dimension)
    assert metrics["val/active_latents"] == active
