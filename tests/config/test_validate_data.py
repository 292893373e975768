"""Config checks of the data options and trainer.eval_samples."""

import pytest

from genopt_cli.config.compose import compose_config, group_options
from genopt_cli.config.validate import DATA_KINDS, validate
from genopt_cli.data import LOADERS


def problems_of(overrides: list[str]) -> str:
    return " | ".join(validate(compose_config(overrides)))


def test_every_data_set_has_loader_kind_and_config():
    assert sorted(LOADERS) == sorted(DATA_KINDS) == group_options("data")


def test_data_path_kinds(tmp_path):
    (tmp_path / "file.txt").write_text("text")
    assert "data=mnist needs data.path=DIR" in problems_of(["model=vae", "data=mnist"])
    message = problems_of(["model=vae", "data=image_folder", f"data.path={tmp_path}/file.txt"])
    assert "is not a folder" in message
    message = problems_of(["model=transformer", "data=text_file", f"data.path={tmp_path}"])
    assert "is not a file" in message
    message = problems_of(["model=vae", "data=mnist", f"data.path={tmp_path}/none"])
    assert f"data.path={tmp_path}/none not found" in message
    assert problems_of(["model=vae", "data=image_folder", f"data.path={tmp_path}"]) == ""


CASES = [
    (["model=gan", "data.image_size=15"], ["data.image_size=15", "multiple of 2", "=14"]),
    (
        ["model=ddpm", "model.channels=[8,16,32]", "data.image_size=30"],
        ["data.image_size=30", "multiple of 4", "=28"],
    ),
    (["model=vae", "data.image_size=0"], ["data.image_size=0", "> 0"]),
    (["model=vae", "data.channels=2"], ["data.channels=2", "1 (grayscale), 3 (RGB) or null"]),
    (["model=vae", "data.val_fraction=0"], ["data.val_fraction=0", "(0, 1)"]),
    (["model=vae", "data.skip_bad_files=maybe"], ["data.skip_bad_files=maybe", "true or false"]),
]


@pytest.mark.parametrize(("overrides", "expected"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_image_folder_option_message(overrides, expected, tmp_path):
    problems = problems_of([*overrides, "data=image_folder", f"data.path={tmp_path}"])
    for words in expected:
        assert words in problems, (words, problems)


def test_eval_samples_values():
    assert "trainer.eval_samples=0 must be > 0" in problems_of(["trainer.eval_samples=0"])
    assert "needs at least 2 samples" in problems_of(["trainer.eval_samples=1"])
    assert problems_of(["trainer.eval_samples=2"]) == ""
    assert problems_of(["trainer.eval_samples=null"]) == ""
