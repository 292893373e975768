"""Cross-field checks of a composed config, run before any data or device is touched.

Every problem is collected, so the user sees all of them at once.
"""

import dataclasses
import difflib
import importlib.util
import inspect
import re
from pathlib import Path

import hydra.utils
import torch
from omegaconf import DictConfig, OmegaConf

from genopt_cli.config.errors import GenoptError
from genopt_cli.config.schema import GenoptConfig
from genopt_cli.data import LOADERS
from genopt_cli.data.digits import train_size as digits_train_size
from genopt_cli.models import TASKS
from genopt_cli.optim import SCHEDULES, missing_package
from genopt_cli.optim.optimizers import CLOSURE_OPTIMIZERS, HARNESS_KEYS
from genopt_cli.optim.param_groups import DECAY_EXCLUDE_RULES
from genopt_cli.train.distributed import (
    launched_by_torchrun,
    local_world_size,
    planned_world_size,
)
from genopt_cli.train.loop import ON_NONFINITE
from genopt_cli.train.precision import PRECISIONS

DATA_KINDS = {
    "digits": "images",
    "text": "text",
    "text_file": "text",
    "mnist": "images",
    "image_folder": "images",
    "gaussians8": "points",
    "gaussians25": "points",
}
# data.name -> what data.path must be, for the data sets read from the user's files.
DATA_PATH_KINDS = {"text_file": "file", "mnist": "folder", "image_folder": "folder"}


def closest(name: str, choices) -> str:
    match = difflib.get_close_matches(str(name), list(choices), n=1)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _choice(problems, key, value, choices) -> bool:
    if value not in choices:
        problems.append(
            f"{key}={value} is not valid{closest(value, choices)}; "
            f"valid: {', '.join(sorted(choices))}"
        )
        return False
    return True


def _positive(problems, key, value, integer=False, allow_none=False) -> None:
    if value is None and allow_none:
        return
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        problems.append(f"{key}={value} must be {kind} > 0")
    elif value <= 0:
        problems.append(f"{key}={value} must be > 0")


def _check_optimizer(problems, prefix: str, values) -> None:
    if values.get("foreach") and values.get("fused"):
        problems.append(
            f"{prefix}.foreach=true and {prefix}.fused=true cannot be combined; choose one, "
            f"e.g. {prefix}.fused=false to use the foreach implementation"
        )
    lr = values.get("lr")
    if lr is not None:
        _positive(problems, f"{prefix}.lr", lr)
    betas = values.get("betas")
    if betas is not None:
        if len(betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas):
            problems.append(f"{prefix}.betas={list(betas)} must be two numbers in [0, 1)")
    weight_decay = values.get("weight_decay")
    if weight_decay is not None and (
        not isinstance(weight_decay, (int, float)) or weight_decay < 0
    ):
        problems.append(f"{prefix}.weight_decay={weight_decay} must be >= 0")


def _check_optimizer_arguments(problems, optimizer: DictConfig, optimizer_class: type) -> None:
    """Reject keys (added with +optimizer.KEY=...) that the optimizer class does not take."""
    parameters = inspect.signature(optimizer_class.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    valid = [name for name in parameters if name not in ("self", "params")]
    valid += ["decay_exclude", "layer_decay", "lr_scaling"]
    for key in optimizer:
        if key not in HARNESS_KEYS and key not in parameters:
            problems.append(
                f"optimizer.{key} is not an argument of {optimizer._target_}"
                f"{closest(key, valid)}; valid: {', '.join(valid)}"
            )


def _check_top_level_keys(problems, cfg: DictConfig) -> None:
    """Reject top-level keys that no part of genopt reads, such as one added with +KEY=..."""
    known = [f.name for f in dataclasses.fields(GenoptConfig)]
    for key in cfg:
        if key not in known:
            problems.append(
                f"{key} is not a key of the config{closest(key, known)}, so nothing would read "
                f"it; valid top-level keys: {', '.join(known)}"
            )


def _check_optimizer_choice(problems, cfg: DictConfig, task) -> None:
    """Check the optimizer's package, its traits against the run, and its group options."""
    optimizer = cfg.optimizer
    name = optimizer.name
    hint = missing_package(optimizer._target_)
    if hint is not None:
        problems.append(f"optimizer={name}: {hint}")
        return
    optimizer_class = hydra.utils.get_object(optimizer._target_)
    _check_optimizer_arguments(problems, optimizer, optimizer_class)
    if issubclass(optimizer_class, CLOSURE_OPTIMIZERS):
        _check_closure_optimizer(problems, cfg, task)
    if callable(getattr(optimizer_class, "eval", None)) and cfg.schedule.name != "constant":
        problems.append(
            f"optimizer={name} averages its iterates in place of an lr schedule, so it cannot "
            f"run with schedule={cfg.schedule.name}; use schedule=constant "
            "(schedule.warmup_steps still applies)"
        )

    rules = optimizer.get("decay_exclude")
    for rule in rules or ():
        if rule not in DECAY_EXCLUDE_RULES:
            problems.append(
                f"optimizer.decay_exclude contains '{rule}'{closest(rule, DECAY_EXCLUDE_RULES)}; "
                f"valid rules: {', '.join(DECAY_EXCLUDE_RULES)} (an empty list decays everything)"
            )
    layer_decay = optimizer.get("layer_decay")
    if layer_decay is None:
        return
    if isinstance(layer_decay, bool) or not isinstance(layer_decay, (int, float)):
        problems.append(f"optimizer.layer_decay={layer_decay} must be a number in (0, 1] or null")
    elif not 0 < layer_decay <= 1:
        problems.append(
            f"optimizer.layer_decay={layer_decay} must be in (0, 1] (typical: 0.65 to 0.9), "
            "or null for one lr for all layers"
        )
    if task is not None and not task.has_layers:
        layered = sorted(name for name, t in TASKS.items() if t.has_layers)
        problems.append(
            f"optimizer.layer_decay={layer_decay} needs a model with layers "
            f"({', '.join(layered)}), but model={cfg.model.name} has none; "
            "set optimizer.layer_decay=null"
        )


def _check_closure_optimizer(problems, cfg: DictConfig, task) -> None:
    """L-BFGS re-evaluates the loss of one batch many times per step; rule out what breaks it."""
    name = cfg.optimizer.name
    if cfg.trainer.precision == "fp16":
        problems.append(
            f"optimizer={name} cannot run with trainer.precision=fp16: the gradient scaler would "
            "skip steps after the line search has moved the weights; use trainer.precision=bf16 "
            "or fp32, or another optimizer"
        )
    if cfg.trainer.accumulate != 1:
        problems.append(
            f"optimizer={name} needs trainer.accumulate=1, got {cfg.trainer.accumulate}; raise "
            "data.batch_size for a larger batch, or use another optimizer with accumulation"
        )
    if task is not None and len(task.player_names) > 1:
        problems.append(
            f"optimizer={name} cannot train model={cfg.model.name}: its players "
            f"({', '.join(task.player_names)}) play a game, so no single loss exists for a "
            "line search; use optimizer=adam (the GAN recipe's) or another first-order optimizer"
        )


def _check_initial_checkpoint(problems, cfg: DictConfig, checkpoint: Path) -> None:
    """Read init_from's checkpoint now, so that a bad one fails before a run folder exists."""
    from genopt_cli.train.checkpoint import load_checkpoint

    try:
        state = load_checkpoint(checkpoint)
    except GenoptError as error:
        problems.extend(error.problems)
        return
    saved_model = OmegaConf.create(state.get("config", "{}")).get("model", {}).get("name")
    if saved_model != cfg.model.name:
        problems.append(
            f"init_from={cfg.init_from} holds a model={saved_model} run, but this run trains "
            f"model={cfg.model.name}; pass a model={cfg.model.name} run or set "
            f"model={saved_model}"
        )


def _check_finetune(problems, cfg: DictConfig) -> None:
    """Check init_from and the LoRA settings."""
    if cfg.init_from is not None:
        checkpoint = Path(cfg.init_from).expanduser() / "checkpoints" / "last.pt"
        if not checkpoint.is_file():
            problems.append(
                f"init_from={cfg.init_from} has no checkpoints/last.pt; pass the folder of a "
                "finished run (outputs/DATE/TIME), relative to the launch folder or absolute"
            )
        else:
            _check_initial_checkpoint(problems, cfg, checkpoint)
    rank = cfg.trainer.lora.rank
    if rank is not None:
        _positive(problems, "trainer.lora.rank", rank, integer=True)
        if cfg.init_from is None:
            problems.append(
                f"trainer.lora.rank={rank} trains adapters on frozen weights, which must come "
                "from a finished run: add init_from=RUN_DIR, or set trainer.lora.rank=null"
            )
        if importlib.util.find_spec("peft") is None:
            problems.append(
                f"trainer.lora.rank={rank} needs the optional package peft, which is not "
                "installed; install it with: pip install 'genopt[lora]' (or pip install peft)"
            )
        _positive(problems, "trainer.lora.alpha", cfg.trainer.lora.alpha)
        dropout = cfg.trainer.lora.dropout
        if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            problems.append(f"trainer.lora.dropout={dropout} must be in [0, 1)")


def _check_data_path(problems, data: DictConfig) -> None:
    """Check that data.path is set and names an existing file or folder, as the loader needs."""
    expected = DATA_PATH_KINDS.get(data.name)
    # `in` is False for a key whose value is ??? (missing), so look the key up in keys().
    if expected is None or "path" not in data.keys():
        return
    placeholder = "FILE" if expected == "file" else "DIR"
    if OmegaConf.is_missing(data, "path"):
        problems.append(
            f"data={data.name} needs data.path={placeholder}, the {expected} to train on"
        )
        return
    path = Path(data.path).expanduser()
    if not path.exists():
        problems.append(
            f"data.path={data.path} not found; pass the data set's {expected}, relative to the "
            "launch folder or absolute"
        )
    elif (expected == "file") != path.is_file():
        problems.append(
            f"data.path={data.path} is not a {expected}, but data={data.name} reads a "
            f"{expected}; pass a {expected}"
        )


def _check_data_options(problems, cfg: DictConfig) -> None:
    """Check data.image_size against the model, data.channels, val_fraction, skip_bad_files."""
    data = cfg.data
    if "image_size" in data:
        size = data.image_size
        _positive(problems, "data.image_size", size, integer=True)
        levels = len(cfg.model.channels) if cfg.model.name == "ddpm" else 2
        # The GAN's generator doubles an H/2 x W/2 map, and each level of the UNet halves the
        # image, so the size must divide by 2^(levels - 1).
        factor = 2 ** (levels - 1)
        if isinstance(size, int) and size > 0 and size % factor:
            problems.append(
                f"data.image_size={size} must be a multiple of {factor} for model="
                f"{cfg.model.name}; use e.g. data.image_size={max(factor, size - size % factor)}"
            )
    if "channels" in data and data.channels not in (None, 1, 3):
        problems.append(
            f"data.channels={data.channels} is not valid; use 1 (grayscale), 3 (RGB) or null "
            "(1 when every image is grayscale, else 3)"
        )
    fraction = data.get("val_fraction")
    if fraction is not None and (
        isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1
    ):
        problems.append(f"data.val_fraction={fraction} must be a number in (0, 1)")
    skip = data.get("skip_bad_files")
    if skip is not None and not isinstance(skip, bool):
        problems.append(f"data.skip_bad_files={skip} must be true or false")


def _check_eval_samples(problems, value) -> None:
    _positive(problems, "trainer.eval_samples", value, integer=True, allow_none=True)
    if value == 1 and not isinstance(value, bool):
        problems.append(
            "trainer.eval_samples=1 is too few: the quality metrics fit a covariance, which "
            "needs at least 2 samples; use 500 (the default) or null to turn them off"
        )


def check_device(problems, device: str, precision: str, key: str = "trainer.device") -> None:
    """Check a device name and that this machine has it; `key` is how the user gave it."""
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        problems.append(f"{key}={device} is not valid; use auto, cpu, cuda or cuda:N")
        return
    if device.startswith("cuda") and not torch.cuda.is_available():
        problems.append(f"{key}={device} but no CUDA device is available; use {key}=cpu")
        return
    on_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if on_cuda and precision == "bf16" and not torch.cuda.is_bf16_supported():
        problems.append(
            f"trainer.precision=bf16 but the GPU {torch.cuda.get_device_name()} has no bfloat16 "
            "support; use trainer.precision=fp16 (with loss scaling) or fp32"
        )


def _check_batch_fits(problems, cfg: DictConfig) -> None:
    """An embedded image set's size is known without loading it: the batch must fit in it."""
    batch, devices = cfg.data.batch_size, cfg.trainer.devices
    if cfg.data.name != "digits" or not isinstance(batch, int) or not isinstance(devices, int):
        return
    size = digits_train_size(cfg.data)
    processes = planned_world_size(devices)
    if batch * processes <= size:
        return
    if processes == 1:
        problems.append(
            f"data.batch_size={batch} is larger than data=digits's training split ({size} "
            f"images); use data.batch_size={size} or less, with trainer.accumulate for more"
        )
        return
    problems.append(
        f"data.batch_size={batch} x {processes} processes = {batch * processes} is larger than "
        f"data=digits's training split ({size} images); use data.batch_size={size // processes} "
        "or less, with trainer.accumulate for more"
    )


def _check_robustness(problems, cfg: DictConfig, task) -> None:
    """Check checkpointing, the non-finite policy and the memory and speed switches."""
    trainer = cfg.trainer
    _positive(problems, "trainer.keep_checkpoints", trainer.keep_checkpoints, integer=True)
    _positive(problems, "trainer.max_skips_in_a_row", trainer.max_skips_in_a_row, integer=True)
    _choice(problems, "trainer.on_nonfinite", trainer.on_nonfinite, ON_NONFINITE)
    if trainer.activation_checkpointing and task is not None and not task.recomputable:
        able = sorted(name for name, t in TASKS.items() if t.recomputable)
        problems.append(
            f"trainer.activation_checkpointing=true is for models with deep blocks "
            f"({', '.join(able)}); model={cfg.model.name} is small enough to keep its "
            "activations, so set trainer.activation_checkpointing=false"
        )


LR_SCALING_RULES = ("none", "linear", "sqrt")


def _check_parallel(problems, cfg: DictConfig) -> None:
    """Check trainer.devices, trainer.sync_batchnorm and optimizer.lr_scaling."""
    trainer = cfg.trainer
    devices = trainer.devices
    _positive(problems, "trainer.devices", devices, integer=True)
    _choice(problems, "optimizer.lr_scaling", cfg.optimizer.get("lr_scaling"), LR_SCALING_RULES)
    if not isinstance(devices, int):
        return

    parallel = planned_world_size(devices) > 1
    target = cfg.optimizer.get("_target_", "")
    if parallel and target and missing_package(target) is None:
        if issubclass(hydra.utils.get_object(target), CLOSURE_OPTIMIZERS):
            problems.append(
                f"optimizer={cfg.optimizer.name} re-evaluates the loss in a line search that "
                "each process would run on its own data, so it cannot train data-parallel; use "
                "one process or another optimizer"
            )

    on_cuda = trainer.device.startswith("cuda") or (
        trainer.device == "auto" and torch.cuda.is_available()
    )
    if trainer.sync_batchnorm and not on_cuda:
        problems.append(
            "trainer.sync_batchnorm=true needs CUDA: torch's SyncBatchNorm runs on GPUs only; "
            "on the CPU set trainer.sync_batchnorm=false (each process then keeps its own "
            "batch statistics, and the running averages follow rank 0's)"
        )
    if devices == 1:
        return

    if launched_by_torchrun() and devices != local_world_size():
        problems.append(
            f"trainer.devices={devices} but torchrun started {local_world_size()} processes on "
            "this node; under torchrun leave trainer.devices at 1 (torchrun's --nproc_per_node "
            "sets the processes)"
        )
    if on_cuda and 0 < torch.cuda.device_count() < devices:
        problems.append(
            f"trainer.devices={devices} but this machine has {torch.cuda.device_count()} CUDA "
            f"devices; use trainer.devices={torch.cuda.device_count()} or fewer, or "
            "trainer.device=cpu for processes on the CPU"
        )
    if re.fullmatch(r"cuda:\d+", trainer.device):
        problems.append(
            f"trainer.device={trainer.device} names one GPU, but trainer.devices={devices} "
            "uses one per process; use trainer.device=cuda"
        )


def validate(cfg: DictConfig) -> list[str]:
    """Return every problem found in `cfg`, each naming the dotted key, value and what is valid."""
    problems: list[str] = []
    _check_top_level_keys(problems, cfg)
    model_ok = _choice(problems, "model.name", cfg.model.name, TASKS)
    task = TASKS[cfg.model.name] if model_ok else None
    data_ok = _choice(problems, "data.name", cfg.data.name, LOADERS)
    _choice(problems, "schedule.name", cfg.schedule.name, SCHEDULES)
    if model_ok:
        problems.extend(task.config_problems(cfg))
    if model_ok and data_ok:
        task = TASKS[cfg.model.name]
        kind = DATA_KINDS[cfg.data.name]
        kinds = task.data_kinds()
        if kind not in kinds:
            fitting = sorted(name for name, k in DATA_KINDS.items() if k in kinds)
            problems.append(
                f"data={cfg.data.name} holds {kind}, but model={cfg.model.name} trains on "
                f"{' or '.join(kinds)}; use data={' or data='.join(fitting)}"
            )
        for player in cfg.players:
            if player not in task.player_names:
                problems.append(
                    f"players.{player} is not a player of model={cfg.model.name}"
                    f"{closest(player, task.player_names)}; its players: "
                    f"{', '.join(task.player_names)}"
                )

    trainer = cfg.trainer
    _positive(problems, "trainer.max_steps", trainer.max_steps, integer=True)
    _positive(problems, "trainer.accumulate", trainer.accumulate, integer=True)
    _positive(problems, "trainer.log_every", trainer.log_every, integer=True)
    _positive(problems, "trainer.checkpoint_every", trainer.checkpoint_every, True, True)
    _positive(problems, "trainer.eval_every", trainer.eval_every, True, True)
    _positive(problems, "trainer.num_samples", trainer.num_samples, integer=True)
    _positive(problems, "trainer.clip_grad_norm", trainer.clip_grad_norm, allow_none=True)
    _positive(problems, "trainer.clip_grad_value", trainer.clip_grad_value, allow_none=True)
    _positive(problems, "data.batch_size", cfg.data.batch_size, integer=True)
    _check_batch_fits(problems, cfg)
    _choice(problems, "trainer.precision", trainer.precision, PRECISIONS)
    check_device(problems, trainer.device, trainer.precision)
    _check_parallel(problems, cfg)
    _check_robustness(problems, cfg, task)
    decay = trainer.ema.decay
    if decay is not None and not 0 < decay < 1:
        problems.append(f"trainer.ema.decay={decay} must be in (0, 1), or null for no EMA")
    warmup = cfg.schedule.warmup_steps
    if not isinstance(warmup, int) or warmup < 0:
        problems.append(f"schedule.warmup_steps={warmup} must be an integer >= 0")
    elif isinstance(trainer.max_steps, int) and warmup >= trainer.max_steps > 0:
        problems.append(
            f"schedule.warmup_steps={warmup} must be below trainer.max_steps={trainer.max_steps}; "
            f"lower schedule.warmup_steps (for example schedule.warmup_steps="
            f"{trainer.max_steps // 10}) or raise trainer.max_steps"
        )

    _check_optimizer(problems, "optimizer", cfg.optimizer)
    _check_optimizer_choice(problems, cfg, task)
    min_lr = cfg.schedule.get("min_lr")
    lr = cfg.optimizer.get("lr")
    if isinstance(min_lr, (int, float)) and isinstance(lr, (int, float)) and min_lr > lr > 0:
        problems.append(
            f"schedule.min_lr={min_lr} is above optimizer.lr={lr}, so the schedule would raise "
            f"the lr; set schedule.min_lr to at most {lr} (0.0 decays to zero)"
        )
    _check_finetune(problems, cfg)
    if data_ok:
        _check_data_path(problems, cfg.data)
        if model_ok:
            _check_data_options(problems, cfg)
    _check_eval_samples(problems, trainer.eval_samples)
    for player, overrides in cfg.players.items():
        _check_optimizer(problems, f"players.{player}", overrides)
        for key in ("clip_grad_norm", "clip_grad_value"):
            _positive(problems, f"players.{player}.{key}", overrides[key], allow_none=True)
    return problems
