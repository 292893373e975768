"""The `genopt` command: train, validate, sample, compare, doctor, lr-find, recipes, list, lab. Each
subcommand is a thin wrapper."""

import importlib
import os
import sys
from pathlib import Path

from genopt_cli.config.errors import GenoptError

USAGE = """usage: genopt COMMAND [ARGS]

commands:
  train [-m] [KEY=VALUE ...]   train a model; -m sweeps comma-separated values (Hydra multirun)
  train resume=RUN_DIR|latest [KEY=VALUE ...]
                               continue a stopped run from its last checkpoint, in its folder
  validate [-m] [KEY=VALUE ...]
                               check a command line's config (every run of a sweep) and exit
  sample RUN_DIR [--num N] [--seed S] [--device D] [--out DIR]
                               draw samples from a finished run (EMA weights when it had EMA)
  compare DIR... [--png PATH] [--csv PATH]
                               compare run or sweep folders: a table best first by the target
                               metric and a PNG of the loss and lr curves
  doctor RUN_DIR               diagnose a finished or failed run from its logs
  lr-find [KEY=VALUE ...] [--steps N] [--min-lr X] [--max-lr Y] [--out DIR]
                               raise the lr exponentially over a short run and suggest one
  recipes                      print the practical-defaults table from the config files
  list [GROUP]                 list config groups and options; with GROUP, each option's values
  lab problem=P optimizer=A,B [KEY=VALUE ...] | lab check
                               run optimizers on a problem with a known solution and plot them;
                               `lab check` tests the results against convergence theorems

examples:
  genopt train model=ddpm optimizer=adamw
  genopt train -m optimizer=adam,adamw optimizer.lr=1e-4,3e-4 model=vae
  genopt sample outputs/2026-01-01/12-00-00
  genopt compare outputs/sweeps/2026-01-01/12-00-00 --csv runs.csv
  genopt lr-find model=vae
"""

# Hydra flags that take no value; with any other flag the checks before the run are left to Hydra.
PLAIN_HYDRA_FLAGS = ("-m", "--multirun")


def _check_output_folder(overrides: list[str], multirun: bool) -> list[str]:
    """Check that the run folder can be created, before Hydra tries to."""
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    chosen = [o.split("=", 1)[1].strip("'\"") for o in overrides if o.startswith(key + "=")]
    target = Path(chosen[-1] if chosen else "outputs").expanduser().absolute()
    existing = target
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return [
            f"{key}: {existing} is a file, so the run folder {target} cannot be made there; "
            f"pass another folder with {key}=DIR"
        ]
    if not os.access(existing, os.W_OK | os.X_OK):
        return [
            f"{key}: {existing} is not writable, so the run folder {target} cannot be made; "
            f"pass a writable folder with {key}=DIR"
        ]
    return []


def preflight(arguments: list[str]) -> int:
    """Compose and validate every run of the command line before Hydra creates a run folder.

    Returns the number of runs checked (0 when Hydra flags other than -m leave it to Hydra).
    """
    from genopt_cli.config.compose import check_group_choices, compose_config, expand_sweep
    from genopt_cli.config.validate import validate

    if any(a.startswith("-") and a not in PLAIN_HYDRA_FLAGS for a in arguments):
        return 0
    overrides = [a for a in arguments if not a.startswith("-")]
    problems = check_group_choices(overrides)
    problems += _check_output_folder(overrides, multirun=len(overrides) != len(arguments))
    if problems:
        raise GenoptError(problems)
    combinations = expand_sweep(overrides)
    for combination in combinations:
        cfg = compose_config(combination)
        problems = validate(cfg)
        if cfg.resume is not None:
            problems += _check_resume(cfg)
        if problems:
            prefix = f"[{' '.join(combination)}] " if len(combinations) > 1 else ""
            raise GenoptError([prefix + problem for problem in problems])
    return len(combinations)


def _check_resume(cfg) -> list[str]:
    from genopt_cli.config.resume import unsafe_changes
    from genopt_cli.train.run import load_resume_state

    state = load_resume_state(Path(cfg.resume))
    return unsafe_changes(cfg, state["config"], state["step"])


def command_train(arguments: list[str]) -> None:
    from genopt_cli.config.resume import resume_arguments
    from genopt_cli.train import distributed

    try:
        if distributed.launched_by_torchrun() and any(a in ("-m", "--multirun") for a in arguments):
            raise GenoptError(
                "genopt train -m cannot run under torchrun: every process would run the whole "
                "sweep. Sweep without torchrun and give each run its processes with "
                "trainer.devices=N"
            )
        arguments = resume_arguments(arguments, Path.cwd())
        preflight(arguments)
    except GenoptError:
        # Every process of a torchrun job finds the same problems; rank 0 reports them.
        if distributed.launched_by_torchrun() and os.environ["RANK"] != "0":
            sys.exit(2)
        raise
    if distributed.launched_by_torchrun():
        from genopt_cli.train.launch import join_torchrun

        arguments = join_torchrun(arguments)
    from genopt_cli.train.app import train_app

    sys.argv = ["genopt train", *arguments]
    try:
        train_app()
    except BaseException:
        distributed.leave(wait=False)
        raise
    distributed.leave()


def command_validate(arguments: list[str]) -> None:
    from genopt_cli.config.resume import resume_arguments

    runs = preflight(resume_arguments(arguments, Path.cwd()))
    if runs == 0:
        raise GenoptError("genopt validate takes KEY=VALUE overrides and -m only")
    print(f"valid: {runs} run{'s' if runs != 1 else ''}, no problems found")


# Subcommand -> (module, function), imported only when chosen so that `genopt list` stays quick.
COMMANDS = {
    "train": ("genopt_cli.cli", "command_train"),
    "validate": ("genopt_cli.cli", "command_validate"),
    "sample": ("genopt_cli.commands.sample", "command_sample"),
    "compare": ("genopt_cli.commands.compare", "command_compare"),
    "doctor": ("genopt_cli.commands.doctor", "command_doctor"),
    "lr-find": ("genopt_cli.commands.lr_find", "command_lr_find"),
    "recipes": ("genopt_cli.commands.recipes", "command_recipes"),
    "list": ("genopt_cli.commands.listing", "command_list"),
    "lab": ("genopt_cli.lab.cli", "command_lab"),
}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return
    if not argv:
        print(USAGE, end="", file=sys.stderr)
        sys.exit(2)
    command, arguments = argv[0], argv[1:]
    try:
        if command not in COMMANDS:
            raise GenoptError(
                f"unknown command '{command}'; valid: {', '.join(COMMANDS)} (see genopt --help)"
            )
        module_name, function_name = COMMANDS[command]
        getattr(importlib.import_module(module_name), function_name)(arguments)
    except GenoptError as error:
        print(error.render(), file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
