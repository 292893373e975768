"""Split a module's parameters into named optimizer groups: weight decay or not, the layer of
layer-wise lr decay, and the role in a combined optimizer (Muon's matrices or AdamW's rest).

Rules for `optimizer.decay_exclude`:
  bias       parameters named *.bias and every other 1-D parameter
  norm       weights of normalisation layers (BatchNorm, LayerNorm, GroupNorm, RMSNorm, ...)
  embedding  weights of nn.Embedding

Group names join the parts that apply, in this order: the layer (`block0`, `head`, ...), the
role (`muon`, `adamw`) and `no_decay`. Without layers or roles the names are `decay` and
`no_decay`; a single group without weight-decay split (L-BFGS) is `all`.
"""

from collections.abc import Callable

from torch import nn
from torch.nn.modules.batchnorm import _NormBase

NORM_TYPES = (_NormBase, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm, nn.LocalResponseNorm)
DECAY_EXCLUDE_RULES = ("bias", "norm", "embedding")

# role_of(owner module, parameter) -> role name, for optimizers that route parameters.
RoleFunction = Callable[[nn.Module, nn.Parameter], str]


def excluded_from_decay(module: nn.Module, name: str, parameter, rules) -> bool:
    if "bias" in rules and (name.endswith("bias") or parameter.ndim < 2):
        return True
    if "norm" in rules and isinstance(module, NORM_TYPES):
        return True
    return "embedding" in rules and isinstance(module, nn.Embedding)


def layer_depths(model: nn.Module) -> dict[int, tuple[str, int]]:
    """Map id(parameter) to (layer name, depth from the top) from the model's `layers()`.

    `layers()` returns {name: [modules]} ordered from the input to the output; the last layer
    has depth 0. A parameter shared by two layers counts in the first (the lower) one.
    """
    layers = list(model.layers().items())
    depths: dict[int, tuple[str, int]] = {}
    for index, (name, modules) in enumerate(layers):
        for module in modules:
            for parameter in module.parameters():
                depths.setdefault(id(parameter), (name, len(layers) - 1 - index))
    return depths


def _owned_parameters(model: nn.Module):
    """Yield (owner module, name, parameter) once per trainable parameter, by first owner."""
    seen = set()
    for module in model.modules():
        for name, parameter in module.named_parameters(recurse=False):
            if not parameter.requires_grad or id(parameter) in seen:
                continue
            seen.add(id(parameter))
            yield module, name, parameter


def build_param_groups(
    model: nn.Module,
    lr: float,
    weight_decay: float | None,
    rules=(),
    layer_decay: float | None = None,
    role_of: RoleFunction | None = None,
) -> list[dict]:
    """Return the optimizer groups of `model`, each with `name`, `params` and `lr`.

    weight_decay None means the optimizer takes none (L-BFGS): no decay split, no key set.
    With layer_decay, a group's lr is lr x layer_decay^(depth from the top). Groups are ordered
    from the top down, so the first group always runs at `lr`.
    """
    depths = layer_depths(model) if layer_decay is not None else {}
    groups: dict[tuple, dict] = {}
    for module, name, parameter in _owned_parameters(model):
        if layer_decay is not None and id(parameter) not in depths:
            raise ValueError(f"{type(model).__name__}.layers() misses a parameter: {name}")
        layer, depth = depths.get(id(parameter), (None, 0))
        role = role_of(module, parameter) if role_of is not None else None
        excluded = weight_decay is not None and excluded_from_decay(module, name, parameter, rules)
        key = (depth, role or "", excluded)
        if key not in groups:
            groups[key] = _new_group(lr, weight_decay, layer, depth, layer_decay, role, excluded)
        groups[key]["params"].append(parameter)
    return [groups[key] for key in sorted(groups)]


def _new_group(lr, weight_decay, layer, depth, layer_decay, role, excluded) -> dict:
    parts = [part for part in (layer, role, "no_decay" if excluded else None) if part]
    if not parts:
        parts = ["all" if weight_decay is None else "decay"]
    group = {"name": "_".join(parts), "params": [], "lr": lr}
    if role is not None:
        group["role"] = role
    if layer_decay is not None:
        group["lr"] = lr * layer_decay**depth
    if weight_decay is not None:
        group["weight_decay"] = 0.0 if excluded else weight_decay
    return group


def decay_groups(model: nn.Module, weight_decay: float, rules) -> list[dict]:
    """Return [decay group, no-decay group] (empty ones dropped), each named for logging.

    A parameter shared by two modules (tied embeddings) is placed once, by its first owner.
    The groups carry no lr, so the optimizer's own lr applies.
    """
    groups = build_param_groups(model, 0.0, weight_decay, rules)
    for group in groups:
        del group["lr"]
    return groups
