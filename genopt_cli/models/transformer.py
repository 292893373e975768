"""Character-level GPT: pre-norm decoder blocks with causal self-attention and an MLP, and the
output projection tied to the token embedding."""

import math
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from genopt_cli.data.base import TextDataset, TokenWindows
from genopt_cli.models.base import Task
from genopt_cli.models.recompute import Recomputable


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, dropout: float):
        super().__init__()
        self.n_head = n_head
        self.dropout = dropout
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        # (3, batch, heads, length, head_dim): each of q, k, v is then a strided view that
        # scaled_dot_product_attention takes without a copy.
        qkv = self.qkv(x).view(batch, length, 3, self.n_head, width // self.n_head)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
        )
        return self.proj(y.transpose(1, 2).reshape(batch, length, width))


class Block(Recomputable):
    def __init__(self, n_embd: int, n_head: int, dropout: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.attention = CausalSelfAttention(n_embd, n_head, dropout)
        self.ln2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd),
            nn.GELU(),
            nn.Linear(4 * n_embd, n_embd),
            nn.Dropout(dropout),
        )

    def compute(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        context_length: int,
        n_layer: int,
        n_head: int,
        n_embd: int,
        dropout: float,
    ):
        super().__init__()
        self.context_length = context_length
        self.token_embedding = nn.Embedding(vocab_size, n_embd)
        self.position_embedding = nn.Embedding(context_length, n_embd)
        self.blocks = nn.ModuleList(Block(n_embd, n_head, dropout) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab_size, bias=False)
        self.head.weight = self.token_embedding.weight
        self.apply(self._init_weights)
        # Residual projections scaled by 1 / sqrt(2 n_layer), as in GPT-2.
        for name, parameter in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(parameter, std=0.02 / math.sqrt(2 * n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    def layers(self) -> dict[str, list[nn.Module]]:
        """Return the layers from input to output for layer-wise lr decay.

        The output head shares the token embedding's weight, which counts in the embedding layer.
        """
        layers = {"embedding": [self.token_embedding, self.position_embedding]}
        layers.update({f"block{i}": [block] for i, block in enumerate(self.blocks)})
        layers["head"] = [self.ln_f, self.head]
        return layers

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.token_embedding(ids) + self.position_embedding(positions)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


# Token id of padding in a batch of windows: it is fed as token 0 and is never a target.
PAD = -1


class TransformerTask(Task):
    player_names = ("model",)
    data_kind = "text"
    has_layers = True
    recomputable = True
    target_metric = "val/loss"

    def __init__(self, cfg: DictConfig, dataset: TextDataset):
        super().__init__()
        self.cfg = cfg
        self.dataset = dataset
        self.players = {
            "model": GPT(
                len(dataset.vocab),
                cfg.context_length,
                cfg.n_layer,
                cfg.n_head,
                cfg.n_embd,
                cfg.dropout,
            )
        }

    def make_batches(self, dataset: TextDataset, step_size: int, seed: int) -> TokenWindows:
        return TokenWindows(dataset.train, step_size, self.cfg.context_length + 1, seed)

    def loss(self, player, batch, step):
        """Mean cross-entropy over the target tokens; a token id of PAD (-1) is not a target."""
        logits = self.trained("model")(batch[:, :-1].clamp_min(0))
        targets = batch[:, 1:].flatten()
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets, ignore_index=PAD)
        return loss, {}

    def loss_weight(self, batch: torch.Tensor) -> torch.Tensor:
        """Return the number of target tokens, so accumulation averages over tokens, not windows."""
        return (batch[:, 1:] != PAD).sum()

    @torch.no_grad()
    def sample(self, modules: Mapping[str, nn.Module], n: int) -> list[str]:
        """Continue a newline prompt for sample_length characters, n times."""
        model = modules["model"]
        ids = torch.full((n, 1), self.dataset.vocab.index("\n"), device=self.device)
        for _ in range(self.cfg.sample_length):
            logits = model(ids[:, -self.cfg.context_length :])[:, -1].float()
            probabilities = F.softmax(logits / self.cfg.temperature, dim=-1)
            ids = torch.cat([ids, torch.multinomial(probabilities, 1)], dim=1)
        return [self.dataset.decode(row[1:].cpu()) for row in ids]

    def save_samples(self, samples: list[str], directory: Path, stem: str) -> Path:
        path = directory / f"{stem}.txt"
        directory.mkdir(parents=True, exist_ok=True)
        separator = "\n\n" + "-" * 72 + "\n\n"
        path.write_text(separator.join(samples) + "\n", encoding="utf-8")
        return path

    def loggable_samples(self, samples: list[str]) -> dict:
        return {"text": "\n\n---\n\n".join(samples)}

    @torch.no_grad()
    def evaluate(
        self, modules, dataset: TextDataset, batches: int = 20, batch_size: int = 64
    ) -> dict[str, float]:
        """Return the mean cross-entropy in nats per character over batches x batch_size fixed
        random validation windows, and the same in bits per character (val/bpc)."""
        model = modules["model"]
        windows = TokenWindows(dataset.val, batch_size, self.cfg.context_length + 1, seed=0)
        total = 0.0
        for step in range(batches):
            batch = windows.batch(step).to(self.device)
            logits = model(batch[:, :-1])
            total += F.cross_entropy(logits.flatten(0, 1).float(), batch[:, 1:].flatten()).item()
        loss = total / batches
        return {"val/loss": loss, "val/bpc": loss / math.log(2)}
