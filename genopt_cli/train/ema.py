"""Exponential moving average of a module's weights, buffers included.

After each optimizer step, every floating-point parameter and buffer of the copy moves towards
the live module: ema <- decay_t ema + (1 - decay_t) live. Integer buffers (BatchNorm's batch
counter) are copied. With warmup the decay at update t (0-based) is min(decay, (1 + t) / (10 + t)),
so a short run is not dominated by the random initial weights.

torch.optim.swa_utils.AveragedModel could host this update as well. This class keeps the decay,
its warmup, the update count and the integer buffers in one short place.
"""

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, module: nn.Module, decay: float, warmup: bool):
        self.decay = decay
        self.warmup = warmup
        self.updates = 0
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self._float_pairs, self._other_pairs = self._pair(module)

    def _pair(self, module: nn.Module):
        live = list(module.parameters()) + list(module.buffers())
        ema = list(self.module.parameters()) + list(self.module.buffers())
        floats = [(e, t) for e, t in zip(ema, live, strict=True) if t.is_floating_point()]
        others = [(e, t) for e, t in zip(ema, live, strict=True) if not t.is_floating_point()]
        return floats, others

    def current_decay(self) -> float:
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self) -> float:
        """Move the average one step towards the live module; return the decay used."""
        decay = self.current_decay()
        if self._float_pairs:
            ema, live = zip(*self._float_pairs, strict=True)
            torch._foreach_lerp_(list(ema), list(live), 1.0 - decay)
        for ema_tensor, live_tensor in self._other_pairs:
            ema_tensor.copy_(live_tensor)
        self.updates += 1
        return decay

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = state["updates"]
