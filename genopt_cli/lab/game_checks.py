"""Checks of gradient descent-ascent and extragradient on the bilinear game min_x max_y x y.

On this game a sign error in the vector field leaves |z| unchanged (it reverses time), so the
knobs that break these checks are the step scale and the method.
"""

import math

import torch

from genopt_cli.lab import games
from genopt_cli.lab.problems import build_problem
from genopt_cli.lab.result import ROUNDING, CheckResult
from genopt_cli.lab.trace import Settings


def check_gda_expansion(step_scale: float = 1.0, method=games.simultaneous) -> CheckResult:
    """Simultaneous GDA on min_x max_y x y moves away from (0, 0) by sqrt(1 + lr^2) per step.

    The update is z <- (I - lr J) z with J = [[0, 1], [-1, 0]], and I - lr J is sqrt(1 + lr^2)
    times a rotation. lr = 0.1; `step_scale` multiplies the step the method takes. Measured: the
    step ratio |z_t+1| / |z_t| farthest from the bound over 100 steps.
    """
    lr = 0.1
    problem = build_problem("bilinear")
    points = method(problem, Settings(steps=100, lr=step_scale * lr)).points
    norms = [float(torch.linalg.vector_norm(z)) for z in points]
    ratios = [after / before for before, after in zip(norms[:-1], norms[1:], strict=True)]
    bound = math.sqrt(1 + lr**2)
    worst = max(ratios, key=lambda ratio: abs(ratio - bound))
    return CheckResult(
        "GDA on xy spirals out",
        "simultaneous GDA on xy: |z_t+1| = sqrt(1 + lr^2) |z_t|",
        worst,
        bound,
        abs(worst - bound) <= ROUNDING * bound,
        f"lr = {lr}, 100 steps; the step ratio farthest from the bound",
        relation="=",
    )


def check_extragradient(step_scale: float = 1.0, method=games.extragradient) -> CheckResult:
    """Extragradient on min_x max_y x y converges: |z_t+1| = sqrt(1 - lr^2 + lr^4) |z_t|.

    The update is z <- (I - lr J + lr^2 J^2) z = ((1 - lr^2) I - lr J) z, since J^2 = -I: a
    rotation times sqrt((1 - lr^2)^2 + lr^2), which is below 1 for 0 < lr < 1. lr = 0.1.
    Measured: the per-step factor (|z_T| / |z_0|)^(1/T) over 200 steps, which must equal the
    bound.
    """
    lr = 0.1
    problem = build_problem("bilinear")
    steps = 200
    points = method(problem, Settings(steps=steps, lr=step_scale * lr)).points
    shrink = float(torch.linalg.vector_norm(points[-1]) / torch.linalg.vector_norm(points[0]))
    measured = shrink ** (1 / steps)
    bound = math.sqrt(1 - lr**2 + lr**4)
    return CheckResult(
        "extragradient on xy converges",
        "extragradient on xy: |z_t+1| = sqrt(1 - lr^2 + lr^4) |z_t| < |z_t|",
        measured,
        bound,
        abs(measured - bound) <= ROUNDING,
        f"lr = {lr}; |z_T| / |z_0| = {shrink:.2e} after {steps} steps",
        relation="=",
    )
