"""Problems with structure beyond smoothness: games, constraints, the lasso, the sphere."""

import math

import torch
from torch import Tensor

from genopt_cli.lab.problem import CONSTRAINED, DTYPE, GAME, LASSO, SPHERE, Problem


def build_bilinear() -> Problem:
    """min over x, max over y of x y: the equilibrium is (0, 0), started at (1, 1)."""
    return Problem(
        name="bilinear",
        kinds=frozenset({GAME}),
        objective=lambda z: z[0] * z[1],
        x0=torch.tensor([1.0, 1.0], dtype=DTYPE),
        x_star=torch.zeros(2, dtype=DTYPE),
        f_star=0.0,
        smoothness=1.0,
        strong_convexity=None,
        adaptive_lr=0.05,
        description="bilinear game min_x max_y x y",
        step_size=0.1,
        player_split=1,
    )


def build_dirac_gan() -> Problem:
    """The Dirac-GAN: a generator theta against a linear discriminator psi.

    The data is a point mass at 0 and the generator a point mass at theta; the discriminator is
    D(t) = psi t, and the game is min over theta, max over psi of g(psi theta) + g(0), with
    g(t) = -log(1 + exp(-t)), as in Mescheder, Geiger and Nowozin, "Which Training Methods for
    GANs do actually Converge?" (ICML 2018). The equilibrium is (0, 0).
    """

    def objective(z: Tensor) -> Tensor:
        logsigmoid = torch.nn.functional.logsigmoid
        return logsigmoid(z[1] * z[0]) + logsigmoid(torch.zeros((), dtype=DTYPE))

    return Problem(
        name="dirac_gan",
        kinds=frozenset({GAME}),
        objective=objective,
        x0=torch.tensor([1.0, 1.0], dtype=DTYPE),
        x_star=torch.zeros(2, dtype=DTYPE),
        f_star=float(2 * math.log(0.5)),
        smoothness=None,
        strong_convexity=None,
        adaptive_lr=0.05,
        description="Dirac-GAN: a one-parameter generator against a linear discriminator",
        step_size=0.1,
        player_split=1,
    )


# The constrained problems share f(x) = 1/2 (x - c)^T diag(q) (x - c) with c outside the set.
CURVATURES = torch.tensor([1.0, 10.0], dtype=DTYPE)
TARGET = torch.tensor([2.0, 1.0], dtype=DTYPE)


def separable_quadratic(x: Tensor) -> Tensor:
    d = x - TARGET
    return 0.5 * (CURVATURES * d * d).sum()


def bisect(function, low: float, high: float) -> float:
    """Return the root of an increasing function on [low, high] to machine precision."""
    for _ in range(200):
        middle = (low + high) / 2
        if function(middle) > 0:
            high = middle
        else:
            low = middle
    return (low + high) / 2


def constrained_problem(name, description, x_star, project, equalities, inequalities, boundary):
    return Problem(
        name=name,
        kinds=frozenset({CONSTRAINED}),
        objective=separable_quadratic,
        x0=torch.tensor([-0.5, -0.5], dtype=DTYPE),
        x_star=x_star,
        f_star=float(separable_quadratic(x_star)),
        smoothness=float(CURVATURES.max()),
        strong_convexity=float(CURVATURES.min()),
        adaptive_lr=0.05,
        description=description,
        project=project,
        equalities=equalities,
        inequalities=inequalities,
        boundary=boundary,
    )


def build_box() -> Problem:
    """Build the separable quadratic on the box [-1, 1]^2, where x* is c clipped to the box."""
    corners = torch.tensor([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=DTYPE)
    return constrained_problem(
        "box",
        "quadratic on the box [-1, 1]^2",
        TARGET.clamp(-1, 1),
        project=lambda x: x.clamp(-1, 1),
        equalities=None,
        inequalities=lambda x: torch.cat([x - 1, -1 - x]),
        boundary=corners,
    )


def project_simplex(x: Tensor) -> Tensor:
    """Project onto {x >= 0, sum x = 1}: subtract the threshold found from the sorted values."""
    ordered, _ = torch.sort(x, descending=True)
    cumulative = ordered.cumsum(0) - 1
    index = torch.arange(1, len(x) + 1, dtype=x.dtype)
    count = int((ordered - cumulative / index > 0).sum())
    threshold = cumulative[count - 1] / count
    return (x - threshold).clamp(min=0)


def build_simplex() -> Problem:
    """Build the separable quadratic on the simplex {x >= 0, x1 + x2 = 1}.

    By the KKT conditions x*_i = max(0, c_i - tau / q_i), with tau found by bisection.
    """

    def solution(tau: float) -> Tensor:
        return (TARGET - tau / CURVATURES).clamp(min=0)

    tau = bisect(lambda t: -(float(solution(t).sum()) - 1), -100.0, 100.0)
    return constrained_problem(
        "simplex",
        "quadratic on the simplex {x >= 0, x1 + x2 = 1}",
        solution(tau),
        project=project_simplex,
        equalities=lambda x: x.sum().reshape(1) - 1,
        inequalities=lambda x: -x,
        boundary=torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=DTYPE),
    )


def build_ball() -> Problem:
    """Build the separable quadratic on the unit disc.

    By the KKT conditions x*_i = q_i c_i / (q_i + lambda), with lambda >= 0 found by bisection so
    that |x*| = 1.
    """

    def solution(multiplier: float) -> Tensor:
        return CURVATURES * TARGET / (CURVATURES + multiplier)

    multiplier = bisect(lambda m: 1 - float(torch.linalg.vector_norm(solution(m))), 0.0, 1e3)
    angles = torch.linspace(0, 2 * math.pi, 200, dtype=DTYPE)
    return constrained_problem(
        "ball",
        "quadratic on the unit disc",
        solution(multiplier),
        project=lambda x: x / torch.linalg.vector_norm(x).clamp(min=1),
        equalities=None,
        inequalities=lambda x: (x @ x - 1).reshape(1),
        boundary=torch.stack([angles.cos(), angles.sin()], dim=1),
    )


def build_lasso(seed: int = 0) -> Problem:
    """1/2 |A x - b|^2 + weight |x|_1 with A 40 x 10, built so that a chosen x* is the minimiser.

    x* has three non-zero entries. With s = sign(x*) on its support and values in (-1, 1) off it,
    b = A x* + weight A (A^T A)^{-1} s makes A^T (b - A x*) = weight s, which is the optimality
    condition; A^T A is invertible, so x* is the unique minimiser.
    """
    generator = torch.Generator().manual_seed(seed)
    matrix = torch.randn(40, 10, generator=generator, dtype=DTYPE) / math.sqrt(40)
    x_star = torch.zeros(10, dtype=DTYPE)
    x_star[[1, 4, 7]] = torch.tensor([1.5, -2.0, 1.0], dtype=DTYPE)
    subgradient = torch.rand(10, generator=generator, dtype=DTYPE) * 1.6 - 0.8
    subgradient[[1, 4, 7]] = torch.sign(x_star[[1, 4, 7]])
    weight = 0.1
    gram = matrix.T @ matrix
    target = matrix @ x_star + weight * matrix @ torch.linalg.solve(gram, subgradient)

    def objective(x: Tensor) -> Tensor:
        residual = matrix @ x - target
        return 0.5 * residual @ residual + weight * x.abs().sum()

    eigenvalues = torch.linalg.eigvalsh(gram)
    return Problem(
        name="lasso",
        kinds=frozenset({LASSO}),
        objective=objective,
        x0=torch.zeros(10, dtype=DTYPE),
        x_star=x_star,
        f_star=float(objective(x_star)),
        smoothness=float(eigenvalues.max()),
        strong_convexity=float(eigenvalues.min()),
        adaptive_lr=0.05,
        description="lasso with 40 observations and 10 coefficients, 3 of them non-zero",
        data={"matrix": matrix, "target": target, "weight": weight},
    )


def build_sphere(dim: int = 10, seed: int = 0) -> Problem:
    """Minimise -1/2 x^T A x over the unit sphere: the solution is A's leading eigenvector.

    A has eigenvalues 1, ..., dim in a random basis, so f* = -dim / 2 and the eigengap is 1.
    """
    generator = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=DTYPE))
    eigenvalues = torch.arange(1, dim + 1, dtype=DTYPE)
    matrix = q @ torch.diag(eigenvalues) @ q.T
    x0 = torch.ones(dim, dtype=DTYPE) / math.sqrt(dim)
    return Problem(
        name="sphere",
        kinds=frozenset({SPHERE}),
        objective=lambda x: -0.5 * x @ matrix @ x,
        x0=x0,
        x_star=q[:, -1],
        f_star=-0.5 * dim,
        smoothness=float(dim),
        strong_convexity=None,
        adaptive_lr=0.05,
        description=f"leading eigenvector of a {dim} x {dim} matrix, on the unit sphere",
        project=lambda x: x / torch.linalg.vector_norm(x),
        data={"matrix": matrix},
    )
