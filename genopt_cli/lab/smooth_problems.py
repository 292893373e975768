"""Unconstrained smooth problems: quadratics, Rosenbrock, logistic regression on real data, and the
L2 weight of that regression as a hyperparameter."""

import math
from functools import lru_cache

import torch
from sklearn.datasets import load_breast_cancer
from torch import Tensor

from genopt_cli.lab.problem import DTYPE, FINITE_SUM, FISHER, HYPER, SMOOTH, Problem


def rotation(dim: int, seed: int) -> Tensor:
    """Return a random orthogonal matrix; in 2-D, the rotation by 30 degrees."""
    if dim == 2:
        angle = math.pi / 6
        c, s = math.cos(angle), math.sin(angle)
        return torch.tensor([[c, -s], [s, c]], dtype=DTYPE)
    generator = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=DTYPE))
    return q


def build_quadratic(dim: int = 2, condition: float = 10.0, seed: int = 0) -> Problem:
    """f(x) = 1/2 (x - x*)^T A (x - x*), A with eigenvalues from 1 to `condition`.

    The eigenvalues are spaced evenly on a log scale, so mu = 1 and L = condition.
    """
    eigenvalues = torch.logspace(0, math.log10(condition), dim, dtype=DTYPE)
    q = rotation(dim, seed)
    matrix = q @ torch.diag(eigenvalues) @ q.T
    x_star = torch.full((dim,), 0.5, dtype=DTYPE)
    if dim == 2:
        x0 = torch.tensor([-2.0, 2.0], dtype=DTYPE)
    else:
        generator = torch.Generator().manual_seed(seed + 1)
        x0 = x_star + torch.randn(dim, generator=generator, dtype=DTYPE)

    def objective(x: Tensor) -> Tensor:
        d = x - x_star
        return 0.5 * d @ matrix @ d

    return Problem(
        name="quadratic",
        kinds=frozenset({SMOOTH}),
        objective=objective,
        x0=x0,
        x_star=x_star,
        f_star=0.0,
        smoothness=float(eigenvalues.max()),
        strong_convexity=float(eigenvalues.min()),
        adaptive_lr=0.1,
        description=f"{dim}-D quadratic with condition number {condition:g}",
        data={"matrix": matrix},
    )


def build_worst_case(dim: int = 201, smoothness: float = 1.0) -> Problem:
    """Nesterov's tridiagonal quadratic, on which first-order methods are slowest.

    f(x) = L/4 (1/2 x^T A x - x_1), with A = tridiag(-1, 2, -1) of size n, as in Nesterov,
    "Introductory Lectures on Convex Optimization" (2004), Section 2.1.2. Its solution is
    x*_i = 1 - i / (n + 1) and f* = -L/8 n / (n + 1). Since 0 < A < 4 I, f is L-smooth and convex,
    with a smallest curvature that shrinks as 1/n^2, so it is convex without a useful mu.
    """
    matrix = 2 * torch.eye(dim, dtype=DTYPE)
    matrix -= torch.diag(torch.ones(dim - 1, dtype=DTYPE), 1)
    matrix -= torch.diag(torch.ones(dim - 1, dtype=DTYPE), -1)
    index = torch.arange(1, dim + 1, dtype=DTYPE)
    x_star = 1 - index / (dim + 1)

    def objective(x: Tensor) -> Tensor:
        return smoothness / 4 * (0.5 * x @ matrix @ x - x[0])

    return Problem(
        name="worst_case",
        kinds=frozenset({SMOOTH}),
        objective=objective,
        x0=torch.zeros(dim, dtype=DTYPE),
        x_star=x_star,
        f_star=-smoothness / 8 * dim / (dim + 1),
        smoothness=smoothness,
        strong_convexity=None,
        adaptive_lr=0.01,
        description=f"Nesterov's worst-case {dim}-D quadratic for first-order methods",
        data={"matrix": smoothness / 4 * matrix},
    )


def build_rosenbrock() -> Problem:
    """f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, minimum 0 at (1, 1), started at (-1.2, 1)."""

    def objective(z: Tensor) -> Tensor:
        return (1 - z[0]) ** 2 + 100 * (z[1] - z[0] ** 2) ** 2

    return Problem(
        name="rosenbrock",
        kinds=frozenset({SMOOTH}),
        objective=objective,
        x0=torch.tensor([-1.2, 1.0], dtype=DTYPE),
        x_star=torch.tensor([1.0, 1.0], dtype=DTYPE),
        f_star=0.0,
        smoothness=None,
        strong_convexity=None,
        adaptive_lr=0.02,
        description="Rosenbrock's banana valley",
        # The curvature is about 1000 near the minimum and larger away from it.
        step_size=1e-3,
    )


@lru_cache(maxsize=2)
def breast_cancer_features(unit_rows: bool) -> tuple[Tensor, Tensor]:
    """Return the 569 x 31 features and the 0/1 labels of scikit-learn's breast-cancer data.

    Each feature is standardised and a constant 1 is appended for the bias. With `unit_rows`,
    each row is then scaled to unit norm, so that every component's gradient is 1/4-Lipschitz
    plus the L2 weight.
    """
    features, labels = load_breast_cancer(return_X_y=True)
    x = torch.tensor(features, dtype=DTYPE)
    x = (x - x.mean(0)) / x.std(0)
    x = torch.cat([x, torch.ones(len(x), 1, dtype=DTYPE)], dim=1)
    if unit_rows:
        x = x / torch.linalg.vector_norm(x, dim=1, keepdim=True)
    return x, torch.tensor(labels, dtype=DTYPE)


def logistic_loss(w: Tensor, x: Tensor, y: Tensor, l2: float) -> Tensor:
    """Mean of log(1 + exp(x_i w)) - y_i x_i w over the rows, plus l2 / 2 |w|^2."""
    margins = x @ w
    return (torch.nn.functional.softplus(margins) - y * margins).mean() + 0.5 * l2 * w @ w


def logistic_hessian(w: Tensor, x: Tensor, l2: float) -> Tensor:
    """Return X^T diag(p (1 - p)) X / n + l2 I, the Hessian and also the Fisher information."""
    p = torch.sigmoid(x @ w)
    return (x.T * (p * (1 - p))) @ x / len(x) + l2 * torch.eye(x.shape[1], dtype=DTYPE)


def logistic_minimiser(x: Tensor, y: Tensor, l2: float) -> Tensor:
    """Return the regularised logistic loss's minimiser, by Newton's method to full precision."""
    w = torch.zeros(x.shape[1], dtype=DTYPE)
    for _ in range(50):
        gradient = x.T @ (torch.sigmoid(x @ w) - y) / len(x) + l2 * w
        if float(torch.linalg.vector_norm(gradient)) < 1e-13:
            break
        w = w - torch.linalg.solve(logistic_hessian(w, x, l2), gradient)
    return w


def build_logistic(l2: float = 0.01) -> Problem:
    """L2-regularised logistic regression on breast-cancer data, a finite sum of 569 terms.

    With unit-norm rows, the Hessian is at most X^T X / (4 n) + l2 I, so L is its largest
    eigenvalue, and l2 I bounds it below, so mu = l2. Each component is (1/4 + l2)-smooth.
    """
    x, y = breast_cancer_features(unit_rows=True)
    smoothness = float(torch.linalg.eigvalsh(x.T @ x / (4 * len(x))).max()) + l2
    w_star = logistic_minimiser(x, y, l2)

    def objective(w: Tensor) -> Tensor:
        return logistic_loss(w, x, y, l2)

    def component_gradients(points: Tensor, index: Tensor) -> Tensor:
        """Return the gradient of component index[k] at points[k], one row per point.

        `index` may be one index for every point. The closed form is (sigmoid(x_i w) - y_i) x_i
        + l2 w.
        """
        rows = x[index]
        margins = (points * rows).sum(-1)
        return (torch.sigmoid(margins) - y[index])[..., None] * rows + l2 * points

    def component_loss(w: Tensor, index: Tensor) -> Tensor:
        return logistic_loss(w, x[index], y[index], l2)

    return Problem(
        name="logistic",
        kinds=frozenset({SMOOTH, FINITE_SUM, FISHER}),
        objective=objective,
        x0=torch.zeros(x.shape[1], dtype=DTYPE),
        x_star=w_star,
        f_star=float(objective(w_star)),
        smoothness=smoothness,
        strong_convexity=l2,
        adaptive_lr=0.05,
        description=f"logistic regression on breast-cancer data (569 x 31), L2 weight {l2:g}",
        data={
            "size": len(x),
            "component_smoothness": 0.25 + l2,
            "component_gradients": component_gradients,
            "component_loss": component_loss,
            "fisher": lambda w: logistic_hessian(w, x, l2),
        },
    )


def regularisation_split() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Return 100 training and 469 validation rows of the breast-cancer data, in a fixed order."""
    x, y = breast_cancer_features(unit_rows=False)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    train, validation = order[:100], order[100:]
    return x[train], y[train], x[validation], y[validation]


def build_l2_weight() -> Problem:
    """The validation loss of logistic regression as a function of s = log(L2 weight).

    The inner problem fits w*(s) on 100 training rows with weight exp(s). The outer objective is
    the unregularised logistic loss of w*(s) on the other 469 rows. Its minimum is found once, by
    a grid over s in [-8, 2] refined by golden-section search.
    """
    x_train, y_train, x_val, y_val = regularisation_split()

    def inner_loss(w: Tensor, log_weight: Tensor) -> Tensor:
        return logistic_loss(w, x_train, y_train, 0.0) + 0.5 * torch.exp(log_weight) * w @ w

    def inner_solution(log_weight: Tensor) -> Tensor:
        return logistic_minimiser(x_train, y_train, float(torch.exp(log_weight)))

    def outer_loss(w: Tensor) -> Tensor:
        return logistic_loss(w, x_val, y_val, 0.0)

    def objective(s: Tensor) -> Tensor:
        """Validation loss at s; differentiable in s only through `hypergradient`."""
        return outer_loss(inner_solution(s.detach().reshape(())))

    s_star = minimise_scalar(lambda s: float(objective(torch.tensor([s], dtype=DTYPE))), -8, 2)
    x_star = torch.tensor([s_star], dtype=DTYPE)
    return Problem(
        name="l2_weight",
        kinds=frozenset({HYPER}),
        objective=objective,
        x0=torch.tensor([math.log(1.0)], dtype=DTYPE),
        x_star=x_star,
        f_star=float(objective(x_star)),
        smoothness=None,
        strong_convexity=None,
        adaptive_lr=0.1,
        description="validation loss of logistic regression against its log L2 weight",
        step_size=1.0,
        data={"inner_loss": inner_loss, "inner_solution": inner_solution, "outer_loss": outer_loss},
    )


def minimise_scalar(function, low: float, high: float, points: int = 21) -> float:
    """Return the minimiser of a 1-D function: the best grid point, then golden-section search.

    The search assumes one minimum between the grid neighbours of the best grid point.
    """
    grid = torch.linspace(low, high, points, dtype=DTYPE).tolist()
    best = min(range(points), key=lambda i: function(grid[i]))
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, points - 1)]
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    value_c, value_d = function(c), function(d)
    for _ in range(30):  # the bracket shrinks to 0.618^30, under 1e-6 of its width
        if value_c < value_d:
            b, d, value_d = d, c, value_c
            c = b - ratio * (b - a)
            value_c = function(c)
        else:
            a, c, value_c = c, d, value_d
            d = a + ratio * (b - a)
            value_d = function(d)
    return (a + b) / 2
