"""The table of lab problems: name -> builder and the options a user may set on it."""

from dataclasses import dataclass
from functools import lru_cache

from genopt_cli.lab import smooth_problems, structured_problems
from genopt_cli.lab.problem import Problem


@dataclass(frozen=True)
class ProblemEntry:
    build: object
    # Command-line options the builder takes, with the type that parses each value. The random
    # instances (rotations, the lasso's matrix) use seed 0, so a problem name is one problem.
    options: dict


PROBLEMS = {
    "quadratic": ProblemEntry(smooth_problems.build_quadratic, {"dim": int, "condition": float}),
    "worst_case": ProblemEntry(smooth_problems.build_worst_case, {"dim": int}),
    "rosenbrock": ProblemEntry(smooth_problems.build_rosenbrock, {}),
    "logistic": ProblemEntry(smooth_problems.build_logistic, {"l2": float}),
    "l2_weight": ProblemEntry(smooth_problems.build_l2_weight, {}),
    "bilinear": ProblemEntry(structured_problems.build_bilinear, {}),
    "dirac_gan": ProblemEntry(structured_problems.build_dirac_gan, {}),
    "box": ProblemEntry(structured_problems.build_box, {}),
    "simplex": ProblemEntry(structured_problems.build_simplex, {}),
    "ball": ProblemEntry(structured_problems.build_ball, {}),
    "lasso": ProblemEntry(structured_problems.build_lasso, {}),
    "sphere": ProblemEntry(structured_problems.build_sphere, {"dim": int}),
}


@lru_cache(maxsize=32)
def _build(name: str, options: tuple) -> Problem:
    return PROBLEMS[name].build(**dict(options))


def build_problem(name: str, **options) -> Problem:
    """Build problem `name` with the given options, caching it (problems are never mutated)."""
    return _build(name, tuple(sorted(options.items())))
