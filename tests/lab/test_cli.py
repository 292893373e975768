"""`genopt lab` through the command line: a run's files, and one-line errors for bad input."""

import pytest

from genopt_cli.cli import main
from tests.helpers import read_scalars, run_genopt

BAD_INPUT = [
    (["problem=quadratc", "optimizer=gd"], ["problem=quadratc", "valid:", "rosenbrock"]),
    (["problem=quadratic", "optimizer=gd,adamx"], ["optimizer=adamx", "valid:", "nesterov"]),
    (["problem=quadratic", "optimizer=admm"], ["optimizer=admm", "does not apply", "lbfgs"]),
    (["problem=quadratic", "optimizer=gd", "stpes=3"], ["stpes", "valid:", "steps"]),
    (["problem=quadratic", "optimizer=gd", "steps=x"], ["steps=x", "integer"]),
    (["problem=quadratic", "optimizer=gd", "lr=-1"], ["lr=-1", "> 0"]),
    (["problem=rosenbrock", "optimizer=gd", "dim=3"], ["dim", "problem=rosenbrock"]),
    (["optimizer=gd"], ["missing problem", "quadratic"]),
    (["problem"], ["invalid argument 'problem'", "KEY=VALUE"]),
]


@pytest.mark.parametrize(
    ("arguments", "expected"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT]
)
def test_bad_input_message(arguments, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["lab", *arguments])
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert len(stderr.strip().splitlines()) == 1, stderr
    for words in expected:
        assert words in stderr, (words, stderr)
    assert not (tmp_path / "outputs").exists()


def test_bad_input_has_no_traceback(tmp_path):
    result = run_genopt("lab", "problem=quadratic", "optimizer=nesterovv", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "optimizer=nesterovv" in result.stderr


def test_run_writes_plots_and_tensorboard(tmp_path):
    result = run_genopt(
        "lab", "problem=quadratic", "optimizer=momentum,nesterov,gd", "steps=20", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "outputs" / "lab").glob("*/*")
    assert (run_dir / "gap.png").stat().st_size > 0
    assert (run_dir / "trajectories.png").stat().st_size > 0
    scalars = read_scalars(run_dir)
    for method in ("momentum", "nesterov", "gd"):
        assert len(scalars[f"lab/gap/{method}"]) == 21
    assert "gap.png" in result.stdout


def test_run_in_chosen_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main(["lab", "problem=logistic", "optimizer=svrg,saga", "steps=2", "out=run"])
    assert (tmp_path / "run" / "gap.png").exists()
    assert not (tmp_path / "run" / "trajectories.png").exists()
