"""`genopt list` and `genopt recipes` render what the config files hold."""

from genopt_cli.commands.recipes import recipe_row
from genopt_cli.config.compose import GROUPS, config_dir, describe, group_options
from tests.helpers import run_genopt


def test_every_option_has_description():
    for group in GROUPS:
        for option in group_options(group):
            assert describe(group, option), f"configs/{group}/{option}.yaml has no comment"


def test_list_shows_every_option(tmp_path):
    result = run_genopt("list", cwd=tmp_path)
    assert result.returncode == 0
    for group in GROUPS:
        for option in group_options(group):
            assert option in result.stdout


def test_list_group_shows_values(tmp_path):
    result = run_genopt("list", "optimizer", "schedule", cwd=tmp_path)
    assert result.returncode == 0
    assert "torch.optim.AdamW" in result.stdout
    assert "pytorch_optimizer.Lamb" in result.stdout
    assert "layer_decay=None" in result.stdout
    assert "warmup_steps=0" in result.stdout


def test_recipes_match_config_files(tmp_path):
    """Each row agrees with the YAML files read directly, not through composition."""
    import yaml

    def load(relative):
        path = config_dir() / relative
        return yaml.safe_load(path.read_text()) if path.is_file() else {}

    for model in group_options("model"):
        recipe = load(f"recipe/{model}.yaml")
        overrides = {k: v for entry in recipe["defaults"] for k, v in entry.items()}
        optimizer = overrides["override /optimizer"]
        schedule = overrides["override /schedule"]
        tuned = load(f"recipe/optimizer/{model}_{optimizer}.yaml")
        # A file in package _global_ (it sets players too) keeps its values under `optimizer`.
        tuned = tuned.get("optimizer", tuned)
        lr = tuned.get("lr", load(f"optimizer/{optimizer}.yaml")["lr"])
        warmup = load(f"recipe/schedule/{model}_{schedule}.yaml").get("warmup_steps", 0)
        row = dict(
            zip(
                (
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
                ),
                recipe_row(model),
                strict=False,
            )
        )
        assert row["data"] == overrides["override /data"]
        assert row["optimizer"].lower() == optimizer
        assert float(row["lr"]) == lr
        assert row["schedule"].split()[0] == schedule
        assert int(row["warmup"]) == warmup
        assert int(row["steps"]) == recipe["trainer"]["max_steps"]
        ema = recipe["trainer"].get("ema", {}).get("decay")
        assert (row["EMA"] == "-") == (ema is None)

    result = run_genopt("recipes", cwd=tmp_path)
    assert result.returncode == 0
    for model in group_options("model"):
        assert model in result.stdout


def test_readme_table_is_current():
    """The README's defaults table is `genopt recipes --markdown`, pasted; rerun it on change."""
    from pathlib import Path

    from genopt_cli.commands.recipes import markdown_table

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert markdown_table() in readme
