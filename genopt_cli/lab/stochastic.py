"""Stochastic methods on finite sums f = (1/n) sum_i f_i: SGD, mini-batch SGD, SVRG and SAGA.

Their `steps` count epochs, and the trace records one point per epoch. An epoch is n component
steps of SGD or SAGA, n / batch steps of mini-batch SGD, and one snapshot plus n inner steps of
SVRG. Indices are drawn uniformly with replacement from a generator seeded by settings.seed.
"""

import math

import torch
from torch import Tensor

from genopt_cli.lab.problem import Problem
from genopt_cli.lab.torch_methods import catalogue_optimizer
from genopt_cli.lab.trace import Settings, Trace


def draw(generator: torch.Generator, size: int, count: int) -> Tensor:
    return torch.randint(size, (count,), generator=generator)


def torch_sgd(problem: Problem, settings: Settings, batch: int, lr_at) -> Trace:
    """Run the catalogue's SGD on mini-batches of `batch` components, with lr_at(t) at step t.

    Extras: `average`, the average of the points x_t where gradients were taken, weighted by
    the steps lr_t; `step_sum`, the sum of lr_t; and `step_gradient_sq_sum`, the sum of
    lr_t^2 |g_t|^2 over the stochastic gradients g_t used.
    """
    size = problem.data["size"]
    component_loss = problem.data["component_loss"]
    generator = torch.Generator().manual_seed(settings.seed)
    x = torch.nn.Parameter(problem.x0.clone())
    optimizer = catalogue_optimizer("sgd", [x], lr=lr_at(0))
    steps_per_epoch = max(1, size // batch)
    weighted_sum, step_sum, step_gradient_sq_sum = torch.zeros_like(x), 0.0, 0.0
    trace = Trace()
    trace.record(x)
    for t in range(settings.steps * steps_per_epoch):
        lr = lr_at(t)
        optimizer.param_groups[0]["lr"] = lr
        optimizer.zero_grad()
        component_loss(x, draw(generator, size, batch)).backward()
        weighted_sum += lr * x.detach()
        step_sum += lr
        step_gradient_sq_sum += lr**2 * float(x.grad @ x.grad)
        optimizer.step()
        if (t + 1) % steps_per_epoch == 0:
            trace.record(x)
    trace.extras["average"] = weighted_sum / step_sum
    trace.extras["step_sum"] = step_sum
    trace.extras["step_gradient_sq_sum"] = step_gradient_sq_sum
    return trace


def sgd(problem: Problem, settings: Settings) -> Trace:
    """SGD on one component per step with a decaying step: x_{t+1} = x_t - c/sqrt(t+1) g_i(x_t).

    c = settings.lr, by default 1 / L_max with L_max the largest component smoothness.
    """
    c = settings.lr or 1 / problem.data["component_smoothness"]
    return torch_sgd(problem, settings, batch=1, lr_at=lambda t: c / math.sqrt(t + 1))


def minibatch_sgd(problem: Problem, settings: Settings) -> Trace:
    """Mini-batch SGD with a constant step: x_{t+1} = x_t - lr mean_{i in B_t} g_i(x_t).

    The default batch is 32 and the default lr 1/L. With a constant step the iterates stop at a
    noise floor, where the variance of the mini-batch gradient balances the pull to x*.
    """
    lr = settings.lr or problem.step_size
    return torch_sgd(problem, settings, batch=settings.batch or 32, lr_at=lambda t: lr)


def svrg(problem: Problem, settings: Settings) -> Trace:
    """SVRG (Johnson and Zhang, 2013), the snapshot updated once per epoch.

    Each epoch takes the snapshot w = x and its full gradient mu = grad f(w), then makes n steps
    x <- x - lr (g_i(x) - g_i(w) + mu), an unbiased gradient estimate whose variance vanishes
    as x and w approach x*. The default lr is 1 / (5 L_max). NOTE: Johnson and Zhang's proof
    takes a random inner iterate as the next snapshot; this implementation takes the last one.
    """
    size = problem.data["size"]
    gradients = problem.data["component_gradients"]
    lr = settings.lr or 1 / (5 * problem.data["component_smoothness"])
    generator = torch.Generator().manual_seed(settings.seed)
    x = problem.x0.clone()
    trace = Trace()
    trace.record(x)
    for _ in range(settings.steps):
        snapshot = x.clone()
        full_gradient = problem.gradient(snapshot)
        for i in draw(generator, size, size):
            pair = gradients(torch.stack([x, snapshot]), i)
            x = x - lr * (pair[0] - pair[1] + full_gradient)
        trace.record(x)
    return trace


def saga(problem: Problem, settings: Settings) -> Trace:
    """SAGA (Defazio, Bach and Lacoste-Julien, 2014), with a table of each component's last g_i.

    At each step, with a uniform index j: x <- x - lr (g_j(x) - table_j + mean(table)), then
    table_j <- g_j(x). The table starts at the gradients at x0. The default lr is 1 / (3 L_max).
    """
    size = problem.data["size"]
    gradients = problem.data["component_gradients"]
    lr = settings.lr or 1 / (3 * problem.data["component_smoothness"])
    generator = torch.Generator().manual_seed(settings.seed)
    x = problem.x0.clone()
    table = gradients(x.expand(size, -1), torch.arange(size))
    table_mean = table.mean(0)
    trace = Trace()
    trace.record(x)
    for _ in range(settings.steps):
        for j in draw(generator, size, size):
            fresh = gradients(x[None], j)[0]
            x = x - lr * (fresh - table[j] + table_mean)
            table_mean = table_mean + (fresh - table[j]) / size
            table[j] = fresh
        trace.record(x)
    return trace
