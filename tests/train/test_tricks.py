"""Precision, accumulation, clipping, EMA and update order, each against a closed form."""

import math

import pytest
import torch
from torch import nn

from genopt_cli.models.base import Task
from genopt_cli.models.transformer import PAD
from genopt_cli.train.checkpoint import load_checkpoint
from genopt_cli.train.loop import Player, Trainer, effective_adam_step
from genopt_cli.train.state import checkpoint_state
from tests.helpers import read_summary, train_tiny
from tests.train.conftest import CPU, make_trainer


def gradients(trainer: Trainer) -> list[torch.Tensor]:
    return [p.grad.clone() for p in trainer.players[0].parameters]


def first_step_gradients(model: str, accumulate: int, batch_size: int, *extra: str):
    _, trainer = make_trainer(
        model,
        f"data.batch_size={batch_size}",
        f"trainer.accumulate={accumulate}",
        "optimizer=sgd",
        "optimizer.lr=0.0",
        *extra,
    )
    torch.manual_seed(1)
    trainer.train_step(0, log_now=False)
    return trainer, gradients(trainer)


def test_accumulation_matches_large_batch_vae(monkeypatch):
    # Four draws of 8 normals are not the first 32 of one draw. So the posterior noise is held
    # at zero, and the comparison tests the loop's arithmetic alone.
    monkeypatch.setattr(torch, "randn_like", torch.zeros_like)
    _, whole = first_step_gradients("vae", 1, 32)
    _, accumulated = first_step_gradients("vae", 4, 8)
    for g1, g4 in zip(whole, accumulated, strict=True):
        torch.testing.assert_close(g4, g1, atol=1e-6, rtol=1e-5)


class FixedBatches:
    def __init__(self, batch: torch.Tensor):
        self.fixed = batch

    def batch(self, step: int) -> torch.Tensor:
        return self.fixed


def test_accumulation_averages_over_tokens_with_uneven_counts():
    """Micro-batches with different numbers of target tokens: the mean is over all tokens."""
    small = ("model.n_layer=1", "model.n_embd=16", "model.n_head=2", "model.context_length=8")
    batch = torch.randint(0, 20, (32, 9), generator=torch.Generator().manual_seed(0))
    # Micro-batch k (8 windows each) loses 2k targets per window to padding.
    for k in range(4):
        batch[8 * k : 8 * (k + 1), 9 - 2 * k :] = PAD
    results = []
    for accumulate, size in ((1, 32), (4, 8)):
        _, trainer = make_trainer(
            "transformer",
            *small,
            f"data.batch_size={size}",
            f"trainer.accumulate={accumulate}",
            "optimizer=sgd",
            "optimizer.lr=0.0",
        )
        trainer.batches = FixedBatches(batch)
        trainer.train_step(0, log_now=True)
        results.append((gradients(trainer), trainer.collect(0)["train/loss"]))
    (whole, whole_loss), (accumulated, accumulated_loss) = results
    for g1, g4 in zip(whole, accumulated, strict=True):
        torch.testing.assert_close(g4, g1, atol=1e-6, rtol=1e-5)
    assert accumulated_loss == pytest.approx(whole_loss, rel=1e-6)


def unskipped_step(trainer: Trainer, step: int = 0, seed: int = 3) -> dict:
    """Run `step` (reseeded each try) until the fp16 scaler stops skipping it."""
    player = trainer.players[0]
    for _ in range(40):
        skipped = player.amp_skipped
        torch.manual_seed(seed)
        trainer.train_step(step, log_now=True)
        values = trainer.collect(step)
        if player.amp_skipped == skipped:
            return values
    raise AssertionError("the scaler skipped 40 tries in a row")


def test_fp16_gradient_norm_matches_fp32():
    norms = {}
    for precision in ("fp32", "fp16"):
        _, trainer = make_trainer("vae", f"trainer.precision={precision}", "optimizer=sgd")
        norms[precision] = unskipped_step(trainer)["optim/grad_norm/model"]
    assert norms["fp16"] == pytest.approx(norms["fp32"], rel=0.01)


def test_fp16_clipping_acts_on_unscaled_gradients():
    """SGD with lr 1 moves the weights by exactly the clipped gradient, norm max_norm."""
    _, trainer = make_trainer(
        "vae",
        "trainer.precision=fp16",
        "optimizer=sgd",
        "optimizer.lr=1.0",
        "optimizer.weight_decay=0.0",
        "schedule.warmup_steps=0",
        "trainer.clip_grad_norm=0.001",
    )
    player = trainer.players[0]
    before = [p.detach().clone() for p in player.parameters]
    values = unskipped_step(trainer)
    assert values["optim/grad_norm/model"] > 0.01  # the clip was active
    moved = torch.nn.utils.get_total_norm(
        [p - b for p, b in zip(player.parameters, before, strict=True)]
    )
    assert moved.item() == pytest.approx(0.001, rel=1e-4)


def test_fp16_overflow_skips_without_moving_schedule_or_ema():
    _, trainer = make_trainer(
        "vae", "trainer.precision=fp16", "trainer.ema.decay=0.9", "optimizer=sgd"
    )
    player = trainer.players[0]
    unskipped_step(trainer)
    overflow = {"on": True}
    player.parameters[0].register_hook(lambda g: g * math.inf if overflow["on"] else g)
    state = (player.schedule.last_epoch, player.ema.updates, player.scaler.get_scale())
    weights = [p.detach().clone() for p in player.parameters]
    ema_weights = [p.clone() for p in player.ema.module.parameters()]
    skipped = player.amp_skipped
    trainer.train_step(1, log_now=True)
    values = trainer.collect(1)
    assert player.amp_skipped == skipped + 1
    assert values["amp/skipped_steps"] == skipped + 1
    assert values["amp/scale"] == state[2] / 2
    assert (player.schedule.last_epoch, player.ema.updates) == state[:2]
    assert all(torch.equal(p, w) for p, w in zip(player.parameters, weights, strict=True))
    assert all(
        torch.equal(p, w) for p, w in zip(player.ema.module.parameters(), ema_weights, strict=True)
    )
    overflow["on"] = False
    trainer.train_step(2, log_now=False)
    assert (player.schedule.last_epoch, player.ema.updates) == (state[0] + 1, state[1] + 1)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_optimizer_states_stay_float32(precision):
    _, trainer = make_trainer("vae", f"trainer.precision={precision}", "optimizer=adamw")
    unskipped_step(trainer)
    states = trainer.players[0].optimizer.state.values()
    dtypes = {t.dtype for state in states for t in state.values() if torch.is_tensor(t)}
    assert dtypes == {torch.float32}


def test_ema_updates_once_per_optimizer_step_with_accumulation():
    _, trainer = make_trainer("vae", "trainer.accumulate=4", "trainer.ema.decay=0.9")
    for step in range(3):
        trainer.train_step(step, log_now=False)
    assert trainer.players[0].ema.updates == 3


class Scalar(nn.Module):
    def __init__(self, value: float):
        super().__init__()
        self.value = nn.Parameter(torch.tensor(value))


class BilinearGame(Task):
    """min_x max_y x*y: player x minimises x*y, player y minimises -x*y."""

    player_names = ("x", "y")

    def __init__(self, simultaneous: bool, x_updates: int = 1):
        super().__init__()
        self.simultaneous = simultaneous
        self.players = {"x": Scalar(1.0), "y": Scalar(2.0)}
        self.updates_per_step = {"x": x_updates}
        self.device = CPU

    def make_batches(self, dataset, step_size, seed):
        return FixedBatches(torch.zeros(2, 1))

    def loss(self, player, batch, step):
        product = self.players["x"].value * self.players["y"].value
        return (product if player == "x" else -product), {}

    def sample(self, modules, n):
        return []

    def save_samples(self, samples, directory, stem):
        return directory

    def evaluate(self, modules, dataset):
        return {}


def play(simultaneous: bool, steps: int, lr: float, x_updates: int = 1) -> tuple[float, float]:
    game = BilinearGame(simultaneous, x_updates)
    players = []
    for name, module in game.players.items():
        optimizer = torch.optim.SGD(module.parameters(), lr=lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        players.append(Player(name, module, optimizer, schedule, None, None))
    trainer = Trainer(game, players, game.make_batches(None, 0, 0), 1, "fp32", CPU)
    for step in range(steps):
        trainer.train_step(step, log_now=False)
    return game.players["x"].value.item(), game.players["y"].value.item()


def test_simultaneous_and_alternating_updates_follow_their_definitions():
    lr, x, y = 0.1, 1.0, 2.0
    xa, ya, xs, ys, xn, yn = x, y, x, y, x, y
    for _ in range(3):
        xa = xa - lr * ya  # alternating: y updates against the new x
        ya = ya + lr * xa
        xs, ys = xs - lr * ys, ys + lr * xs  # simultaneous: both at the same point
        for _ in range(2):  # two updates of x per step, then y
            xn = xn - lr * yn
        yn = yn + lr * xn
    assert play(False, 3, lr) == pytest.approx((xa, ya), abs=1e-6)
    assert play(True, 3, lr) == pytest.approx((xs, ys), abs=1e-6)
    assert play(False, 3, lr, x_updates=2) == pytest.approx((xn, yn), abs=1e-6)
    assert abs(xa - xs) > 1e-3  # the two orders really differ here


SMALL_GPT = ("model.n_layer=2", "model.n_embd=32", "model.n_head=2", "model.context_length=16")


@pytest.mark.parametrize("model,extra", [("transformer", SMALL_GPT), ("ddpm", ())])
def test_activation_checkpointing_same_gradients_less_saved(model, extra):
    results = {}
    for recompute in (False, True):
        _, trainer = make_trainer(
            model,
            *extra,
            "optimizer=sgd",
            "optimizer.lr=0.0",
            f"trainer.activation_checkpointing={str(recompute).lower()}",
        )
        saved = []

        def pack(tensor, saved=saved):
            saved.append(tensor.numel() * tensor.element_size())
            return tensor

        torch.manual_seed(5)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            trainer.train_step(0, log_now=False)
        results[recompute] = (gradients(trainer), sum(saved))
    for plain, recomputed in zip(results[False][0], results[True][0], strict=True):
        torch.testing.assert_close(recomputed, plain, atol=1e-6, rtol=1e-5)
    assert results[True][1] < 0.6 * results[False][1]


def test_compile_keeps_parameter_names_in_checkpoints():
    cfg, plain = make_trainer("vae", "trainer.ema.decay=0.9")
    _, compiled = make_trainer("vae", "trainer.ema.decay=0.9", "trainer.compile=true")
    plain_state = checkpoint_state(cfg, plain, 0)
    compiled_state = checkpoint_state(cfg, compiled, 0)
    for part in ("players", "ema"):
        assert plain_state[part]["model"]["module"].keys() == (
            compiled_state[part]["model"]["module"].keys()
        )


@pytest.mark.slow
def test_compiled_run_trains_and_saves_plain_names(tmp_path):
    """A real torch.compile run (tens of seconds of compilation on a CPU)."""
    run_dir = tmp_path / "run"
    train_tiny("vae", run_dir, "trainer.compile=true", "trainer.ema.decay=0.9", steps=20)
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    names = list(state["players"]["model"]["module"])
    assert names == list(state["ema"]["model"]["module"])
    assert not any("_orig_mod" in name for name in names)
    assert math.isfinite(read_summary(run_dir)["metrics"]["val/nelbo"])


def test_adam_step_is_geometric_mean_of_effective_lr():
    """After one step v_hat = g^2, so each element's effective lr is lr / |g|."""
    parameter = nn.Parameter(torch.zeros(4))
    optimizer = torch.optim.Adam([parameter], lr=0.1, betas=(0.9, 0.99), eps=0.0)
    parameter.grad = torch.tensor([1.0, -2.0, 4.0, 8.0])
    optimizer.step()
    assert effective_adam_step(optimizer) == pytest.approx(0.1 / 64**0.25, rel=1e-6)
    assert effective_adam_step(torch.optim.SGD([parameter], lr=0.1)) is None


def test_clip_by_value_alone_bounds_each_element():
    _, trainer = make_trainer(
        "vae",
        "optimizer=sgd",
        "optimizer.lr=1.0",
        "optimizer.weight_decay=0.0",
        "schedule.warmup_steps=0",
        "trainer.clip_grad_value=0.0001",
    )
    player = trainer.players[0]
    before = [p.detach().clone() for p in player.parameters]
    trainer.train_step(0, log_now=False)
    moved = torch.cat(
        [(p - b).abs().flatten() for p, b in zip(player.parameters, before, strict=True)]
    )
    assert moved.max().item() == pytest.approx(1e-4, rel=1e-3)
