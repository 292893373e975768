"""`genopt recipes`: the practical-defaults table, rendered from the composed configs."""

from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from genopt_cli.config.compose import compose_config, group_options
from genopt_cli.config.errors import GenoptError

COLUMNS = (
    "model",
    "data",
    "optimizer",
    "lr",
    "betas",
    "weight decay",
    "schedule",
    "warmup",
    "clip",
    "EMA",
    "steps",
    "batch",
    "techniques",
)


def vae_techniques(model: DictConfig) -> list[str]:
    parts = []
    schedule = model.get("kl_schedule")
    if schedule == "linear":
        parts.append(f"KL annealing (linear, {model.kl_warmup_steps} steps)")
    elif schedule == "cyclical":
        parts.append(
            f"KL annealing (cyclical, {model.kl_warmup_steps} of every "
            f"{model.kl_cycle_steps} steps)"
        )
    if "beta" in model and model.beta != 1:
        parts.append(f"beta {model.beta:g}")
    if model.get("free_bits") is not None:
        parts.append(f"free bits {model.free_bits:g}")
    return parts


def gan_techniques(model: DictConfig) -> list[str]:
    parts = []
    if model.get("spectral_norm"):
        parts.append("spectral norm in D")
    if model.get("r1_gamma") is not None:
        parts.append(f"R1 gamma {model.r1_gamma}")
    if model.get("gp_lambda") is not None:
        parts.append(f"WGAN-GP lambda {model.gp_lambda:g}")
    n_critic = model.get("n_critic")
    if n_critic is not None and n_critic > 1:
        parts.append(f"n_critic {n_critic}")
    if model.get("update_order") == "simultaneous":
        parts.append("simultaneous updates")
    return parts


def techniques(cfg: DictConfig) -> str:
    """Describe the family techniques that the composed config turns on."""
    model = cfg.model
    parts = []
    parts += vae_techniques(model) + gan_techniques(model)
    lrs = {name: p.lr for name, p in cfg.players.items() if p.lr is not None}
    if lrs:
        own = ", ".join(f"{name} {lr:g}" for name, lr in lrs.items())
        parts.append(f"own lr per player: {own}, the others at the optimizer's lr")
    if "decay_exclude" in cfg.optimizer and cfg.optimizer.get("weight_decay"):
        parts.append("no decay on " + ", ".join(cfg.optimizer.decay_exclude))
    if cfg.optimizer.get("layer_decay") is not None:
        parts.append(f"layer-wise lr decay {cfg.optimizer.layer_decay:g}")
    if cfg.trainer.lora.rank is not None:
        parts.append(f"LoRA rank {cfg.trainer.lora.rank}")
    return "; ".join(parts)


# Recipes chosen with recipe=NAME, shown on top of this model's recipe.
STANDALONE_MODEL = "transformer"


def recipe_row(model: str, recipe: str | None = None) -> list[str]:
    """Return one column of the table: model=MODEL, plus recipe=RECIPE when given."""
    overrides = [f"model={model}"] + ([f"recipe={recipe}"] if recipe is not None else [])
    cfg = compose_config(overrides)
    optimizer = cfg.optimizer
    ema = cfg.trainer.ema
    ema_text = "-"
    if ema.decay is not None:
        ema_text = f"{ema.decay:g} warmup" if ema.warmup else f"{ema.decay:g}"
    schedule = cfg.schedule.name
    if "min_lr" in cfg.schedule and cfg.schedule.name != "constant":
        schedule += f" to {cfg.schedule.min_lr:g}"
    return [
        model if recipe is None else f"{recipe} ({model})",
        cfg.data.name,
        optimizer._target_.rsplit(".", 1)[-1],
        f"{optimizer.lr:g}",
        str(list(optimizer.betas)) if "betas" in optimizer else "-",
        f"{optimizer.weight_decay:g}",
        schedule,
        str(cfg.schedule.warmup_steps),
        "-" if cfg.trainer.clip_grad_norm is None else f"norm {cfg.trainer.clip_grad_norm:g}",
        ema_text,
        str(cfg.trainer.max_steps),
        str(cfg.data.batch_size),
        techniques(cfg),
    ]


def recipe_table() -> tuple[list[str], list[list[str]]]:
    """Return the column names and one row per setting: a column per model, then one per
    recipe chosen with recipe=NAME (on the transformer)."""
    columns = [recipe_row(model) for model in group_options("model")]
    columns += [recipe_row(STANDALONE_MODEL, recipe) for recipe in group_options("recipe")]
    models = [column[0] for column in columns]
    rows = [
        [setting] + [column[i] for column in columns] for i, setting in enumerate(COLUMNS) if i > 0
    ]
    return models, rows


def markdown_table() -> str:
    models, rows = recipe_table()
    lines = ["| setting | " + " | ".join(models) + " |", "|---" * (len(models) + 1) + "|"]
    lines += ["| " + " | ".join(cell or "-" for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def command_recipes(arguments: list[str]) -> None:
    if arguments == ["--markdown"]:
        print(markdown_table())
        return
    if arguments:
        raise GenoptError(f"unknown argument {arguments[0]}; genopt recipes takes only --markdown")
    models, rows = recipe_table()
    table = Table(title="genopt recipes: what `genopt train model=NAME` runs")
    table.add_column("setting", style="bold")
    for model in models:
        table.add_column(model, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console().print(table)
