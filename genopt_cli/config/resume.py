"""`resume=RUN_DIR` and `resume=latest`: turn them into the saved run's command line.

A resumed run composes the saved run's overrides (RUN_DIR/.hydra/overrides.yaml), then the new
ones, and runs in the same folder (hydra.run.dir). Only the values in SAFE_CHANGES may then
differ from the config saved in the checkpoint: they change what is logged, saved or how long
the run goes, never the numbers already computed.
"""

import os
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf

from genopt_cli.config.errors import GenoptError

SAFE_CHANGES = (
    "resume",
    "init_from",
    "trainer.max_steps",
    "trainer.log_every",
    "trainer.checkpoint_every",
    "trainer.keep_checkpoints",
    "trainer.eval_every",
    "trainer.num_samples",
    "trainer.device",
    # Allowed with a warning: the run carries on with another global batch (see the README).
    "trainer.devices",
    "trainer.on_nonfinite",
    "trainer.max_skips_in_a_row",
    "trainer.compile",
)


def _value(override: str) -> str:
    return override.split("=", 1)[1].strip("'\"")


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def saved_overrides(run_dir: Path) -> list[str]:
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    return [o for o in yaml.safe_load(path.read_text()) or [] if _key(o) != "resume"]


def _has_checkpoint(run_dir: Path) -> bool:
    return any((run_dir / "checkpoints").glob("*.pt"))


def _shaping(overrides: list[str]) -> list[str]:
    """Return the overrides that shape a run's numbers: all but SAFE_CHANGES and hydra.*."""
    return sorted(
        o for o in overrides if _key(o) not in SAFE_CHANGES and not _key(o).startswith("hydra.")
    )


def find_latest(overrides: list[str], outputs: Path) -> Path:
    """Return the newest run under `outputs` whose saved overrides equal `overrides`.

    Overrides of the values a resume may change are left out of the comparison.
    """
    expected = _shaping(overrides)
    matches = []
    for saved in outputs.glob("**/.hydra/overrides.yaml"):
        run_dir = saved.parent.parent
        if _shaping(saved_overrides(run_dir)) == expected and _has_checkpoint(run_dir):
            matches.append(
                (max(p.stat().st_mtime for p in (run_dir / "checkpoints").glob("*.pt")), run_dir)
            )
    if not matches:
        listed = " ".join(expected) or "no overrides"
        raise GenoptError(
            f"resume=latest found no run in {outputs} with the same overrides ({listed}) and a "
            "checkpoint; pass the run folder itself: resume=outputs/DATE/TIME"
        )
    return max(matches)[1]


# Hydra's flags that take a value in the next argument.
VALUE_FLAGS = (
    "--cfg",
    "-c",
    "--package",
    "-p",
    "--info",
    "-i",
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
    "--config-dir",
    "-cd",
    "--experimental-rerun",
)


def split_flags(arguments: list[str]) -> tuple[list[str], list[str]]:
    """Split a command line into Hydra's flags (with their values, as in `--cfg job`) and the
    KEY=VALUE overrides."""
    flags, overrides = [], []
    for argument in arguments:
        is_value = bool(flags) and flags[-1] in VALUE_FLAGS and "=" not in argument
        if argument.startswith("-") or is_value:
            flags.append(argument)
        else:
            overrides.append(argument)
    return flags, overrides


def resume_arguments(arguments: list[str], launch_dir: Path) -> list[str]:
    """Rewrite a command line with resume=... into the saved run's overrides plus the new ones.

    Hydra's flags come first. A command line without resume is returned unchanged.
    """
    flags, arguments = split_flags(arguments)
    resume = [a for a in arguments if _key(a) == "resume"]
    if not resume or _value(resume[-1]) in ("null", ""):
        return [*flags, *arguments]
    if any(a in ("-m", "--multirun") for a in flags):
        raise GenoptError("resume cannot be used with -m; resume each run of a sweep on its own")
    value = _value(resume[-1])
    others = [a for a in arguments if _key(a) != "resume"]
    if value == "latest":
        run_dir = find_latest(others, launch_dir / "outputs")
    else:
        run_dir = Path(value).expanduser()
        run_dir = run_dir if run_dir.is_absolute() else launch_dir / run_dir
        if not run_dir.is_dir():
            raise GenoptError(
                f"resume={value}: folder {run_dir} does not exist; pass a run folder "
                "(outputs/DATE/TIME) or resume=latest"
            )
        if not _has_checkpoint(run_dir):
            raise GenoptError(
                f"resume={value}: no checkpoint found in {run_dir}/checkpoints, so there is "
                "nothing to resume; start a new run without resume"
            )
    run_dir = Path(os.path.abspath(run_dir))
    quoted = str(run_dir).replace("'", "\\'")
    new = [a for a in others if not a.startswith("hydra.run.dir=")]
    saved = saved_overrides(run_dir)
    return [*flags, *saved, *new, f"resume='{quoted}'", f"hydra.run.dir='{quoted}'"]


def _flatten(node, prefix: str = "") -> dict:
    if isinstance(node, dict):
        flat = {}
        for key, value in node.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: node}


def unsafe_changes(cfg: DictConfig, saved_config: str, saved_step: int) -> list[str]:
    """Return a problem for each value that differs from the saved run's and may not."""
    new = _flatten(OmegaConf.to_container(cfg, resolve=True))
    old = _flatten(yaml.safe_load(saved_config))
    problems = []
    for key in sorted(set(new) | set(old)):
        if key in SAFE_CHANGES or new.get(key) == old.get(key):
            continue
        problems.append(
            f"resume cannot change {key}: the run has {old.get(key, '(no such key)')}, this "
            f"command gives {new.get(key, '(no such key)')}"
        )
    if problems:
        problems.append(
            f"a resumed run may change only {', '.join(SAFE_CHANGES[2:])}; start a new run "
            "instead, or use init_from=RUN_DIR to start one from this run's weights"
        )
    max_steps = cfg.trainer.max_steps
    if isinstance(max_steps, int) and max_steps < saved_step:
        problems.append(
            f"trainer.max_steps={max_steps} is below step {saved_step}, where the resumed run "
            f"stopped; give trainer.max_steps={saved_step} or more"
        )
    return problems
