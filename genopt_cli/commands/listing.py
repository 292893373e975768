"""`genopt list [GROUP]`: config groups, their options and each option's one-line description."""

from omegaconf import OmegaConf
from rich.console import Console
from rich.table import Table

from genopt_cli.config.compose import GROUPS, config_dir, describe, group_options
from genopt_cli.config.errors import GenoptError
from genopt_cli.config.validate import closest


def option_values(group: str, option: str) -> str:
    values = OmegaConf.load(config_dir() / group / f"{option}.yaml")
    values.pop("defaults", None)
    items = OmegaConf.to_container(values)
    return ", ".join(f"{k}={v}" for k, v in items.items() if k not in ("_partial_", "name"))


def command_list(arguments: list[str]) -> None:
    console = Console()
    groups = list(GROUPS)
    show_values = bool(arguments)
    if arguments:
        unknown = [g for g in arguments if g not in GROUPS]
        if unknown:
            raise GenoptError(
                f"unknown group '{unknown[0]}'{closest(unknown[0], GROUPS)}; "
                f"valid: {', '.join(GROUPS)}"
            )
        groups = arguments
    table = Table(title="config groups (choose with GROUP=OPTION)")
    table.add_column("group")
    table.add_column("option")
    table.add_column("description")
    if show_values:
        table.add_column("values", overflow="fold")
    for group in groups:
        for option in group_options(group):
            row = [group, option, describe(group, option)]
            if show_values:
                row.append(option_values(group, option))
            table.add_row(*row)
    console.print(table)
