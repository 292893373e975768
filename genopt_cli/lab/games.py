"""Methods for min-max games min_x max_y f(x, y), on z = (x, y).

They all use the game's vector field F(z) = (grad_x f, -grad_y f), which points uphill for both
players' losses, so that z - lr F(z) is a descent step for x and an ascent step for y.
"""

import torch
from torch import Tensor

from genopt_cli.lab.deterministic import iterate
from genopt_cli.lab.problem import Problem
from genopt_cli.lab.trace import Settings, Trace


def vector_field(problem: Problem, z: Tensor) -> Tensor:
    """Return F(z) = (grad_x f(z), -grad_y f(z))."""
    gradient = problem.gradient(z)
    sign = torch.ones_like(z)
    sign[problem.player_split :] = -1
    return sign * gradient


def simultaneous(problem: Problem, settings: Settings) -> Trace:
    """Simultaneous gradient descent-ascent: z_{t+1} = z_t - lr F(z_t)."""
    lr = settings.lr or problem.step_size
    return iterate(problem, settings, lambda z: z - lr * vector_field(problem, z))


def alternating(problem: Problem, settings: Settings) -> Trace:
    """Alternating GDA: x_{t+1} = x_t - lr grad_x f(x_t, y_t), then
    y_{t+1} = y_t + lr grad_y f(x_{t+1}, y_t)."""
    lr = settings.lr or problem.step_size
    split = problem.player_split

    def update(z: Tensor) -> Tensor:
        x_moved = z - lr * vector_field(problem, z)
        z = torch.cat([x_moved[:split], z[split:]])
        y_moved = z - lr * vector_field(problem, z)
        return torch.cat([z[:split], y_moved[split:]])

    return iterate(problem, settings, update)


def extragradient(problem: Problem, settings: Settings) -> Trace:
    """Extragradient (Korpelevich, 1976): z_half = z_t - lr F(z_t), z_{t+1} = z_t - lr F(z_half)."""
    lr = settings.lr or problem.step_size

    def update(z: Tensor) -> Tensor:
        half = z - lr * vector_field(problem, z)
        return z - lr * vector_field(problem, half)

    return iterate(problem, settings, update)


def optimistic(problem: Problem, settings: Settings) -> Trace:
    """Optimistic GDA: z_{t+1} = z_t - 2 lr F(z_t) + lr F(z_{t-1}), with F(z_{-1}) = F(z_0)."""
    lr = settings.lr or problem.step_size
    previous = [vector_field(problem, problem.x0)]

    def update(z: Tensor) -> Tensor:
        field = vector_field(problem, z)
        moved = z - 2 * lr * field + lr * previous[0]
        previous[0] = field
        return moved

    return iterate(problem, settings, update)
