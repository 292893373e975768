"""Checks of the GAN's `model.*` values, run with the rest of the config before training."""

from omegaconf import DictConfig

LOSSES = ("non_saturating", "hinge", "wasserstein")
UPDATE_ORDERS = ("alternating", "simultaneous")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_penalty(problems: list[str], weight_key: str, every_key: str, model: DictConfig):
    weight, every = model[weight_key], model[every_key]
    if weight is not None and (not _is_number(weight) or weight < 0):
        problems.append(
            f"model.{weight_key}={weight} must be a number >= 0, or null for no penalty"
        )
    if not _is_int(every) or every < 1:
        problems.append(
            f"model.{every_key}={every} must be an integer >= 1: the penalty runs every "
            f"{every_key} steps (1 is every step)"
        )


def gan_config_problems(cfg: DictConfig) -> list[str]:
    """Return the problems of model.loss, the penalties, n_critic and update_order."""
    model = cfg.model
    problems: list[str] = []
    if model.loss not in LOSSES:
        problems.append(f"model.loss={model.loss} is not valid; valid: {', '.join(LOSSES)}")
    _check_penalty(problems, "r1_gamma", "r1_every", model)
    _check_penalty(problems, "gp_lambda", "gp_every", model)
    hidden = model.mlp_hidden_dims
    if not hidden or not all(_is_int(width) and width > 0 for width in hidden):
        problems.append(
            f"model.mlp_hidden_dims={list(hidden) if hidden else hidden} must be a non-empty "
            "list of integers > 0, such as [128, 128]"
        )

    n_critic, order = model.n_critic, model.update_order
    if not _is_int(n_critic) or n_critic < 1:
        problems.append(
            f"model.n_critic={n_critic} must be an integer >= 1 (discriminator updates per "
            "generator update; 5 is common with loss=wasserstein)"
        )
    if order not in UPDATE_ORDERS:
        problems.append(
            f"model.update_order={order} is not valid; valid: {', '.join(UPDATE_ORDERS)}"
        )
    elif order == "simultaneous" and _is_int(n_critic) and n_critic > 1:
        problems.append(
            f"model.update_order=simultaneous takes both gradients at one point, so it cannot "
            f"run model.n_critic={n_critic} discriminator updates per step; set "
            "model.n_critic=1 or model.update_order=alternating"
        )
    return problems
