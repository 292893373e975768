"""Split a module's parameters into a weight-decay group and a no-decay group.

Rules for `optimizer.decay_exclude`:
  bias       parameters named *.bias and every other 1-D parameter
  norm       weights of normalisation layers (BatchNorm, LayerNorm, GroupNorm, RMSNorm, ...)
  embedding  weights of nn.Embedding
"""

from torch import nn
from torch.nn.modules.batchnorm import _NormBase

NORM_TYPES = (_NormBase, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm, nn.LocalResponseNorm)
DECAY_EXCLUDE_RULES = ("bias", "norm", "embedding")


def excluded_from_decay(module: nn.Module, name: str, parameter, rules) -> bool:
    if "bias" in rules and (name.endswith("bias") or parameter.ndim < 2):
        return True
    if "norm" in rules and isinstance(module, NORM_TYPES):
        return True
    return "embedding" in rules and isinstance(module, nn.Embedding)


def decay_groups(model: nn.Module, weight_decay: float, rules) -> list[dict]:
    """Return [decay group, no-decay group] (empty ones dropped), each named for logging.

    A parameter shared by two modules (tied embeddings) is placed once, by its first owner.
    """
    decay, no_decay, seen = [], [], set()
    for module in model.modules():
        for name, parameter in module.named_parameters(recurse=False):
            if not parameter.requires_grad or id(parameter) in seen:
                continue
            seen.add(id(parameter))
            target = no_decay if excluded_from_decay(module, name, parameter, rules) else decay
            target.append(parameter)
    groups = [
        {"name": "decay", "params": decay, "weight_decay": weight_decay},
        {"name": "no_decay", "params": no_decay, "weight_decay": 0.0},
    ]
    return [group for group in groups if group["params"]]
