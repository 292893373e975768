"""Fine-tuning from a finished run: the weights load, the new text's loss falls, LoRA merges."""

import inspect
import textwrap

import pytest
import torch
from omegaconf import OmegaConf

from genopt_cli.data import build_dataset
from genopt_cli.models import build_task
from genopt_cli.train.checkpoint import load_checkpoint
from genopt_cli.train.finetune import lora_available
from tests.helpers import TINY, read_summary, run_genopt, train_tiny

FINETUNE = [
    "recipe=finetune",
    "model=transformer",
    *TINY["transformer"],
    "data=text_file",
    "data.path=second.txt",
    "data.batch_size=16",
    "optimizer.lr=2e-3",
    "trainer.max_steps=20",
    "trainer.log_every=10",
]


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """A tiny transformer trained on the embedded text, and a second text beside it."""
    root = tmp_path_factory.mktemp("finetune")
    train_tiny("transformer", root / "base", "data.batch_size=16", steps=30)
    # Python's own source of textwrap: English comments and code, unlike the embedded topics.
    (root / "second.txt").write_text(inspect.getsource(textwrap), encoding="utf-8")
    return root


def val_loss_before(root) -> float:
    """The validation loss of the base run's weights on the second text."""
    state = load_checkpoint(root / "base" / "checkpoints" / "last.pt")
    cfg = OmegaConf.create(state["config"])
    data = OmegaConf.create({"name": "text_file", "path": "second.txt", "val_fraction": 0.1})
    dataset = build_dataset(data, root, vocab=state["data"]["vocab"])
    task = build_task(cfg.model, dataset).to(torch.device("cpu"))
    task.players["model"].load_state_dict(state["players"]["model"]["module"])
    return task.evaluate({"model": task.players["model"].eval()}, dataset)["val/loss"]


def finetune(root, name: str, *extra: str):
    result = run_genopt(
        "train", *FINETUNE, "init_from=base", f"hydra.run.dir={name}", *extra, cwd=root
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_finetune_lowers_loss_on_second_text(base_run):
    before = val_loss_before(base_run)
    result = finetune(base_run, "full")
    after = read_summary(base_run / "full")["metrics"]["val/loss"]
    assert after < before - 0.1, (before, after)
    assert "weights from base (raw)" in result.stderr


@pytest.mark.skipif(not lora_available(), reason="peft is not installed")
def test_lora_trains_adapters_only_and_merges(base_run):
    result = finetune(base_run, "lora", "trainer.lora.rank=2", "trainer.max_steps=5")
    assert "LoRA rank 2" in result.stderr
    assert "trainable" in result.stderr
    state = load_checkpoint(base_run / "lora" / "checkpoints" / "last.pt")
    base = load_checkpoint(base_run / "base" / "checkpoints" / "last.pt")
    merged = state["players"]["model"]["module"]
    # Plain keys without adapters, so `genopt sample` and init_from load it into a plain model.
    assert set(merged) == set(base["players"]["model"]["module"])
    # Frozen tensors are unchanged; adapted matrices moved by their merged delta.
    original = base["players"]["model"]["module"]
    assert torch.equal(merged["blocks.0.ln1.weight"], original["blocks.0.ln1.weight"])
    assert not torch.equal(
        merged["blocks.0.attention.qkv.weight"], original["blocks.0.attention.qkv.weight"]
    )


def test_init_from_wrong_shape_names_model_keys(base_run):
    result = run_genopt(
        "train", *FINETUNE, "init_from=base", "model.n_embd=48", "hydra.run.dir=bad", cwd=base_run
    )
    assert result.returncode == 2
    assert "model.n_embd=48 (the run had 32)" in result.stderr
