"""The Problem record that every lab problem fills in and every lab method reads.

All tensors are float64, so that the checks can compare against bounds to many digits.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

DTYPE = torch.float64

# Problem kinds. A method lists the kinds it accepts; a problem has one or more of them.
SMOOTH = "smooth"  # differentiable objective, minimised without constraints
FINITE_SUM = "finite_sum"  # objective is a mean of n components with per-component gradients
FISHER = "fisher"  # a probabilistic model with a Fisher information matrix
CONSTRAINED = "constrained"  # objective over a set with a projection and constraint functions
SPHERE = "sphere"  # objective over the unit sphere
GAME = "game"  # min over x, max over y of objective(x, y)
LASSO = "lasso"  # 1/2 |A x - b|^2 + weight |x|_1
HYPER = "hyper"  # the variable is a log regularisation weight of an inner problem


@dataclass
class Problem:
    """An objective with its known solution and, where they exist, L and mu.

    `objective` maps a point of shape (dim,) to a scalar tensor and must be differentiable by
    autograd. `x_star` is a solution (for games, the equilibrium) and `f_star` the optimal value.
    `smoothness` is L, the Lipschitz constant of the gradient, and `strong_convexity` is mu; each
    is None where the problem has none (Rosenbrock, games). `adaptive_lr` is the default lr of
    the adaptive methods (AdaGrad, RMSprop, Adam, AdamW), whose step is about lr per coordinate
    whatever the gradient's scale.
    """

    name: str
    kinds: frozenset[str]
    objective: Callable[[Tensor], Tensor]
    x0: Tensor
    x_star: Tensor
    f_star: float
    smoothness: float | None
    strong_convexity: float | None
    adaptive_lr: float
    description: str
    step_size: float | None = None
    # Games: the first `player_split` coordinates are x (minimising), the rest y (maximising).
    player_split: int | None = None
    # Constrained and sphere problems: Euclidean projection onto the feasible set.
    project: Callable[[Tensor], Tensor] | None = None
    # Constrained problems: h(x) = 0 and g(x) <= 0, each returning a 1-D tensor.
    equalities: Callable[[Tensor], Tensor] | None = None
    inequalities: Callable[[Tensor], Tensor] | None = None
    # A closed polyline (k, 2) of the feasible set's boundary, drawn on 2-D contour plots.
    boundary: Tensor | None = None
    # Problem-specific data for the methods that need it (finite sums, lasso, hyperparameters).
    data: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.step_size is None and self.smoothness is not None:
            self.step_size = 1 / self.smoothness

    @property
    def dim(self) -> int:
        return self.x0.numel()

    def error(self, x: Tensor) -> float:
        """Return the distance to the solution that the plots and checks measure.

        That is f(x) - f*; for a game, |z - z*|; for a constrained problem, |f(x) - f*| plus the
        constraint violation, because an infeasible point can have f(x) < f*.
        """
        if GAME in self.kinds:
            return float(torch.linalg.vector_norm(x - self.x_star))
        with torch.no_grad():
            gap = float(self.objective(x)) - self.f_star
            if CONSTRAINED in self.kinds:
                gap = abs(gap) + self.violation(x)
        return gap

    def violation(self, x: Tensor) -> float:
        """Return sum |h_i(x)| + sum max(0, g_i(x)) for the constraints h = 0 and g <= 0."""
        total = 0.0
        if self.equalities is not None:
            total += float(self.equalities(x).abs().sum())
        if self.inequalities is not None:
            total += float(self.inequalities(x).clamp(min=0).sum())
        return total

    def error_label(self) -> str:
        if GAME in self.kinds:
            return "|z_t - z*|"
        if CONSTRAINED in self.kinds:
            return "|f(x_t) - f*| + constraint violation"
        return "f(x_t) - f*"

    def gradient(self, x: Tensor) -> Tensor:
        """Return the gradient of the objective at x (by autograd)."""
        point = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(self.objective(point), point)
        return grad

    def hessian(self, x: Tensor) -> Tensor:
        return torch.func.hessian(self.objective)(x.detach())
