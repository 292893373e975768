"""The table of lab methods: name -> implementation and the problem kinds it applies to.

Where torch.optim has the method, the implementation runs torch.optim through the catalogue's
optimizer configs. The rest are written in torch, each with its update rule in its docstring.
"""

from dataclasses import dataclass

from genopt_cli.lab import deterministic, games, splitting, stochastic, torch_methods
from genopt_cli.lab.problem import (
    CONSTRAINED,
    FINITE_SUM,
    FISHER,
    GAME,
    HYPER,
    LASSO,
    SMOOTH,
    SPHERE,
    Problem,
)
from genopt_cli.lab.trace import Settings, Trace


@dataclass(frozen=True)
class MethodEntry:
    run: object
    kinds: frozenset
    label: str


def entry(run, kinds, label) -> MethodEntry:
    return MethodEntry(run, frozenset(kinds), label)


METHODS = {
    "gd": entry(deterministic.gradient_descent, {SMOOTH}, "gradient descent, step 1/L"),
    "momentum": entry(torch_methods.heavy_ball, {SMOOTH}, "heavy ball (torch SGD momentum)"),
    "nesterov": entry(torch_methods.nesterov, {SMOOTH}, "Nesterov (torch SGD nesterov)"),
    "adagrad": entry(torch_methods.adaptive("adagrad"), {SMOOTH}, "AdaGrad (torch)"),
    "rmsprop": entry(torch_methods.adaptive("rmsprop"), {SMOOTH}, "RMSprop (torch)"),
    "adam": entry(torch_methods.adaptive("adam"), {SMOOTH}, "Adam (torch)"),
    "adamw": entry(torch_methods.adaptive("adamw"), {SMOOTH}, "AdamW (torch)"),
    "newton": entry(deterministic.newton, {SMOOTH}, "Newton"),
    "bfgs": entry(deterministic.bfgs, {SMOOTH}, "BFGS, Armijo search"),
    "lbfgs": entry(torch_methods.lbfgs, {SMOOTH}, "L-BFGS (torch), strong Wolfe"),
    "natural_gradient": entry(
        deterministic.natural_gradient, {FISHER}, "natural gradient (Fisher)"
    ),
    "sgd": entry(stochastic.sgd, {FINITE_SUM}, "SGD, step c/sqrt(t)"),
    "minibatch_sgd": entry(stochastic.minibatch_sgd, {FINITE_SUM}, "mini-batch SGD"),
    "svrg": entry(stochastic.svrg, {FINITE_SUM}, "SVRG"),
    "saga": entry(stochastic.saga, {FINITE_SUM}, "SAGA"),
    "projected_gd": entry(
        deterministic.projected_gradient_descent, {CONSTRAINED, SPHERE}, "projected GD"
    ),
    "augmented_lagrangian": entry(
        splitting.augmented_lagrangian, {CONSTRAINED}, "augmented Lagrangian"
    ),
    "admm": entry(splitting.admm, {LASSO}, "ADMM"),
    "gda": entry(games.simultaneous, {GAME}, "simultaneous GDA"),
    "alternating_gda": entry(games.alternating, {GAME}, "alternating GDA"),
    "extragradient": entry(games.extragradient, {GAME}, "extragradient"),
    "optimistic": entry(games.optimistic, {GAME}, "optimistic GDA"),
    "riemannian_gd": entry(deterministic.riemannian_gradient_descent, {SPHERE}, "Riemannian GD"),
    "hypergradient": entry(
        deterministic.hypergradient_descent, {HYPER}, "hypergradient (implicit)"
    ),
}


def applies(method: str, problem: Problem) -> bool:
    return bool(METHODS[method].kinds & problem.kinds)


def methods_for(problem: Problem) -> list[str]:
    return [name for name in METHODS if applies(name, problem)]


def run_method(method: str, problem: Problem, settings: Settings) -> Trace:
    return METHODS[method].run(problem, settings)
