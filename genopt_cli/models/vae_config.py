"""Checks of the VAE's `model.*` values, run with the rest of the config before training."""

from omegaconf import DictConfig

KL_SCHEDULES = ("linear", "cyclical")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def vae_config_problems(cfg: DictConfig) -> list[str]:
    """Return the problems of the KL schedule, beta, free bits and the network sizes."""
    model = cfg.model
    problems: list[str] = []

    schedule, warmup, period = model.kl_schedule, model.kl_warmup_steps, model.kl_cycle_steps
    if schedule is not None and schedule not in KL_SCHEDULES:
        problems.append(
            f"model.kl_schedule={schedule} is not valid; valid: {', '.join(KL_SCHEDULES)}, "
            "or null for a constant weight beta"
        )
    if schedule is not None and (not _is_int(warmup) or warmup < 1):
        problems.append(
            f"model.kl_warmup_steps={warmup} must be an integer >= 1: the steps over which the KL "
            "weight rises from beta / kl_warmup_steps to beta"
        )
    if schedule == "cyclical":
        if not _is_int(period) or period < 1:
            problems.append(f"model.kl_cycle_steps={period} must be an integer >= 1")
        elif _is_int(warmup) and warmup > period:
            problems.append(
                f"model.kl_warmup_steps={warmup} is longer than model.kl_cycle_steps={period}, "
                "so the KL weight would never reach beta; set kl_warmup_steps <= kl_cycle_steps "
                "(half the cycle is common)"
            )

    beta = model.beta
    if not _is_number(beta) or beta < 0:
        problems.append(f"model.beta={beta} must be a number >= 0 (1 is the plain ELBO)")
    free_bits = model.free_bits
    if free_bits is not None and (not _is_number(free_bits) or free_bits < 0):
        problems.append(
            f"model.free_bits={free_bits} must be a number >= 0 (nats per latent dimension), "
            "or null for no floor"
        )

    latent = model.latent_dim
    if not _is_int(latent) or latent < 1:
        problems.append(f"model.latent_dim={latent} must be an integer >= 1")
    return problems
