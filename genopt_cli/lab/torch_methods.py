"""Methods that torch.optim implements, built from the catalogue's optimizer configs.

Each catalogue optimizer (`genopt_cli/configs/optimizer/NAME.yaml`) is instantiated with its own
settings (betas, eps, weight decay), and the lab sets only lr and momentum from the problem.
"""

import math
from importlib import resources

import torch
from omegaconf import OmegaConf

from genopt_cli.lab.problem import Problem
from genopt_cli.lab.trace import Settings, Trace
from genopt_cli.optim.optimizers import optimizer_class_and_options


def catalogue_optimizer(config_name: str, parameters, **overrides) -> torch.optim.Optimizer:
    """Instantiate configs/optimizer/CONFIG_NAME.yaml on `parameters`, with `overrides` applied."""
    path = resources.files("genopt_cli.configs") / "optimizer" / f"{config_name}.yaml"
    arguments = OmegaConf.to_container(OmegaConf.load(str(path)), resolve=True)
    optimizer_class, options = optimizer_class_and_options(arguments)
    options.update(overrides)
    return optimizer_class(parameters, **options)


def run_optimizer(problem: Problem, settings: Settings, optimizer, before_step=None) -> Trace:
    """Run `optimizer` on its parameter from x0; `before_step(optimizer, t)` may adjust it."""
    (x,) = optimizer.param_groups[0]["params"]
    trace = Trace()
    trace.record(x)

    def closure():
        optimizer.zero_grad()
        loss = problem.objective(x)
        loss.backward()
        return loss

    for t in range(settings.steps):
        if before_step is not None:
            before_step(optimizer, t)
        optimizer.step(closure)
        trace.record(x)
    return trace


def start(problem: Problem) -> torch.nn.Parameter:
    return torch.nn.Parameter(problem.x0.clone())


def condition_root(problem: Problem) -> float | None:
    """Return sqrt(L / mu), or None without a known L and mu."""
    if problem.smoothness is None or problem.strong_convexity is None:
        return None
    return math.sqrt(problem.smoothness / problem.strong_convexity)


def heavy_ball(problem: Problem, settings: Settings) -> Trace:
    """Polyak's heavy ball: x_{t+1} = x_t - lr grad f(x_t) + beta (x_t - x_{t-1}).

    torch.optim.SGD(momentum=beta) computes exactly this. With L and mu known the defaults are
    Polyak's tuning for quadratics, lr = 4 / (sqrt L + sqrt mu)^2 and
    beta = ((sqrt k - 1) / (sqrt k + 1))^2 with k = L / mu; otherwise lr = the problem's step
    and beta = 0.9.
    """
    root = condition_root(problem)
    if root is None:
        lr, beta = problem.step_size, 0.9
    else:
        lr = 4 / (math.sqrt(problem.smoothness) + math.sqrt(problem.strong_convexity)) ** 2
        beta = ((root - 1) / (root + 1)) ** 2
    lr = settings.lr or lr
    beta = beta if settings.momentum is None else settings.momentum
    optimizer = catalogue_optimizer("momentum", [start(problem)], lr=lr, momentum=beta)
    return run_optimizer(problem, settings, optimizer)


def nesterov(problem: Problem, settings: Settings) -> Trace:
    """Nesterov's accelerated gradient, as torch.optim.SGD(nesterov=True) writes it.

    b_t = beta b_{t-1} + g_t and x_{t+1} = x_t - lr (g_t + beta b_t), where g_t = grad f(x_t) is
    taken at the look-ahead point that torch stores. The default lr is 1/L. With mu known,
    beta = (sqrt k - 1) / (sqrt k + 1), k = L / mu; on a convex problem without mu, beta_t =
    t / (t + 3) at step t, the schedule behind the O(1/T^2) rate.
    """
    root = condition_root(problem)
    lr = settings.lr or problem.step_size
    schedule = None
    if settings.momentum is not None:
        beta = settings.momentum
    elif root is not None:
        beta = (root - 1) / (root + 1)
    elif problem.smoothness is not None:
        beta = 0.0

        def schedule(optimizer, t):
            optimizer.param_groups[0]["momentum"] = t / (t + 3)
    else:
        beta = 0.9
    # torch rejects nesterov=True with momentum 0, so the t = 0 step uses a tiny momentum.
    optimizer = catalogue_optimizer("nesterov", [start(problem)], lr=lr, momentum=beta or 1e-12)
    return run_optimizer(problem, settings, optimizer, before_step=schedule)


def adaptive(config_name: str):
    """Return a method that runs the catalogue's `config_name` at the problem's adaptive lr."""

    def method(problem: Problem, settings: Settings) -> Trace:
        lr = settings.lr or problem.adaptive_lr
        optimizer = catalogue_optimizer(config_name, [start(problem)], lr=lr)
        return run_optimizer(problem, settings, optimizer)

    method.__doc__ = f"torch.optim's {config_name} with the catalogue's settings and lr."
    return method


def lbfgs(problem: Problem, settings: Settings) -> Trace:
    """L-BFGS (torch.optim.LBFGS): one iteration per step, 10 pairs of history, strong Wolfe search.

    The search direction is -H_t g_t, where H_t is the inverse-Hessian estimate built by the
    two-loop recursion from the last 10 pairs (s, y) = (x_{k+1} - x_k, g_{k+1} - g_k).
    """
    optimizer = torch.optim.LBFGS(
        [start(problem)],
        lr=settings.lr or 1.0,
        max_iter=1,
        # Without max_eval, torch allows max_iter * 5 // 4 = 1 evaluation per line search.
        max_eval=25,
        history_size=10,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-15,
        tolerance_change=1e-15,
    )
    return run_optimizer(problem, settings, optimizer)
