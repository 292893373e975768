"""`genopt lab`: run optimizers on problems with known solutions, or check them against theorems.

    genopt lab problem=NAME optimizer=A[,B,...] [steps=N] [lr=X] [out=PATH] [KEY=VALUE ...]
    genopt lab check

The lab parses `key=value` arguments itself (no Hydra): its runs are small and have no configs.
"""

import time
from datetime import datetime
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from genopt_cli.config.errors import GenoptError
from genopt_cli.lab.checks import CHECKS
from genopt_cli.lab.methods import METHODS, applies, methods_for, run_method
from genopt_cli.lab.problem import FINITE_SUM
from genopt_cli.lab.problems import PROBLEMS, build_problem
from genopt_cli.lab.trace import Settings

# Keys of every run, with the type that parses each value. Problem options come on top.
RUN_KEYS = {
    "problem": str,
    "optimizer": str,
    "steps": int,
    "lr": float,
    "momentum": float,
    "batch": int,
    "penalty": float,
    "seed": int,
    "out": str,
}
# Methods whose `steps` count epochs on finite sums.
EPOCH_METHODS = ("sgd", "minibatch_sgd", "svrg", "saga")


def split_arguments(arguments: list[str]) -> dict[str, str]:
    """Split KEY=VALUE arguments into a dict; reject anything else."""
    values = {}
    for argument in arguments:
        key, separator, value = argument.partition("=")
        if not separator or not key or not value:
            raise GenoptError(
                f"invalid argument '{argument}'; genopt lab takes KEY=VALUE arguments, "
                "as in: genopt lab problem=quadratic optimizer=gd,nesterov (or: genopt lab check)"
            )
        values[key] = value
    return values


def choose(key: str, value: str, choices) -> str:
    if value not in choices:
        raise GenoptError(f"{key}={value} is not a known {key}; valid: {', '.join(choices)}")
    return value


TYPE_NAMES = {int: "an integer", float: "a number", str: "a string"}


def convert(key: str, value: str, kind: type):
    try:
        return kind(value)
    except ValueError:
        raise GenoptError(f"{key}={value} is invalid; expected {TYPE_NAMES[kind]}") from None


def parse_run(values: dict[str, str]) -> dict:
    """Return the run's problem name, methods, problem options and Settings, all validated."""
    for key in ("problem", "optimizer"):
        if key not in values:
            raise GenoptError(f"missing {key}=...; valid: {', '.join(choices_for(key))}")
    problem_name = choose("problem", values["problem"], PROBLEMS)
    option_types = PROBLEMS[problem_name].options
    for key in values:
        if key not in RUN_KEYS and key not in option_types:
            valid = ", ".join([*RUN_KEYS, *option_types])
            raise GenoptError(
                f"{key} is not a key of genopt lab problem={problem_name}; valid: {valid}"
            )
    options = {
        key: convert(key, values[key], kind) for key, kind in option_types.items() if key in values
    }
    settings = {
        key: convert(key, values[key], RUN_KEYS[key])
        for key in RUN_KEYS
        if key in values and key not in ("problem", "optimizer", "out")
    }
    for key in ("steps", "lr", "batch", "penalty"):
        if key in settings and settings[key] <= 0:
            raise GenoptError(f"{key}={values[key]} is invalid; it must be > 0")
    methods = [choose("optimizer", name, METHODS) for name in values["optimizer"].split(",")]
    return {
        "problem": problem_name,
        "options": options,
        "methods": methods,
        "settings": Settings(**settings),
        "out": values.get("out"),
    }


def choices_for(key: str) -> list[str]:
    return list(PROBLEMS) if key == "problem" else list(METHODS)


def run_directory(out: str | None) -> Path:
    if out is not None:
        return Path(out)
    now = datetime.now()
    return Path("outputs") / "lab" / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S")


def command_lab(arguments: list[str]) -> None:
    torch.set_num_threads(1)  # the problems are tiny; more threads only contend
    if arguments == ["check"]:
        command_check()
        return
    if arguments and arguments[0] == "check":
        raise GenoptError("genopt lab check takes no arguments")
    run = parse_run(split_arguments(arguments))
    problem = build_problem(run["problem"], **run["options"])
    for method in run["methods"]:
        if not applies(method, problem):
            raise GenoptError(
                f"optimizer={method} does not apply to problem={problem.name}; "
                f"valid for {problem.name}: {', '.join(methods_for(problem))}"
            )
    from genopt_cli.lab.runner import write_run

    directory = run_directory(run["out"])
    traces = {method: run_method(method, problem, run["settings"]) for method in run["methods"]}
    epochs = FINITE_SUM in problem.kinds and any(m in EPOCH_METHODS for m in run["methods"])
    step_label = "epoch (a full gradient or n stochastic steps)" if epochs else "step"
    written = write_run(problem, traces, step_label, directory)
    console = Console()
    table = Table(title=f"genopt lab: {problem.description}")
    for column in ("optimizer", "steps", problem.error_label() + " at the end"):
        table.add_column(column)
    for method, trace in traces.items():
        table.add_row(method, str(len(trace.points) - 1), f"{problem.error(trace.points[-1]):.3e}")
    console.print(table)
    for path in written:
        console.print(f"wrote {path}")


def command_check() -> None:
    """Run every theorem check, print the table, and raise GenoptError if any failed."""
    start = time.perf_counter()
    table = Table(title="genopt lab check: measured values against the theorems' bounds")
    for column in ("check", "claim", "measured", "bound", "result"):
        table.add_column(column)
    failed = []
    for check in CHECKS.values():
        result = check()
        verdict = "[green]pass[/green]" if result.passed else "[red]FAIL[/red]"
        table.add_row(
            result.name,
            result.claim,
            f"{result.measured:.6g}",
            f"{result.relation} {result.bound:.6g}",
            verdict,
        )
        if not result.passed:
            failed.append(result.name)
    console = Console()
    if not console.is_terminal:
        # Rich assumes 80 columns when writing to a pipe or file, which folds every claim.
        console = Console(width=150)
    console.print(table)
    console.print(f"{len(CHECKS)} checks in {time.perf_counter() - start:.1f} s")
    if failed:
        raise GenoptError(f"{len(failed)} check(s) failed: {', '.join(failed)}")
