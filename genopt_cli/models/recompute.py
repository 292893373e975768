"""Activation checkpointing for the blocks of a network (`trainer.activation_checkpointing`)."""

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


class Recomputable(nn.Module):
    """A block that can drop its inner activations and recompute them in the backward pass.

    Subclasses define compute() in place of forward(). With `recompute` on and gradients
    enabled, only the block's inputs are kept. torch.utils.checkpoint runs compute() again in
    backward with the same random state, so the gradients are those of the plain block. The
    flag leaves parameter names alone, so checkpoints load either way.
    """

    recompute = False

    def compute(self, *args):
        raise NotImplementedError

    def forward(self, *args):
        if self.recompute and torch.is_grad_enabled():
            return checkpoint(self.compute, *args, use_reentrant=False)
        return self.compute(*args)


def enable_recompute(module: nn.Module) -> int:
    """Turn recomputation on in every Recomputable block of `module`; return how many."""
    blocks = [m for m in module.modules() if isinstance(m, Recomputable)]
    for block in blocks:
        block.recompute = True
    return len(blocks)
