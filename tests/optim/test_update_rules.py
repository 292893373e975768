"""Each optimizer's parameters after a few steps equal its update rule, computed here by hand.

The optimizers are built from their config files, so these tests also check what the configs
pass to the classes. Gradients come from fixed tensors or from a fixed quadratic.
"""

import math

import pytest
import torch
from torch import nn

from genopt_cli.config.compose import compose_config
from genopt_cli.optim import build_optimizer, player_optimizer_config

GRADIENTS = [
    torch.tensor([[0.3, -1.2, 0.5], [2.0, 0.1, -0.7]]),
    torch.tensor([[-0.4, 0.9, 0.2], [1.1, -0.3, 0.6]]),
    torch.tensor([[0.8, 0.05, -1.5], [-0.2, 0.4, 0.3]]),
]
START = torch.tensor([[0.5, -0.25, 1.0], [0.75, -1.5, 0.2]])


class Matrix(nn.Module):
    """One 2-D weight, so that every optimizer puts it in its decayed (or Muon) group."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(START.clone())


def optimizer_for(name: str, module: nn.Module, *overrides: str):
    cfg = compose_config([f"optimizer={name}", *overrides])
    return build_optimizer(player_optimizer_config(cfg, "model"), module, "model")


def run_steps(name: str, *overrides: str, steps: int = 3) -> torch.Tensor:
    module = Matrix()
    optimizer = optimizer_for(name, module, *overrides)
    for gradient in GRADIENTS[:steps]:
        module.weight.grad = gradient.clone()
        optimizer.step()
    return module.weight.detach()


def test_sgd_steps_against_gradient():
    w = START.clone()
    for g in GRADIENTS:
        w = w - 0.1 * g
    torch.testing.assert_close(run_steps("sgd", "optimizer.lr=0.1"), w, rtol=0, atol=1e-7)


def test_heavy_ball_momentum_torch_form():
    """torch: b = mu b + g, w -= lr b; the same path as v = mu v - lr g, w += v at fixed lr."""
    lr, mu = 0.1, 0.9
    w, b = START.clone(), torch.zeros_like(START)
    w_classic, v = START.clone(), torch.zeros_like(START)
    for g in GRADIENTS:
        b = mu * b + g
        w = w - lr * b
        v = mu * v - lr * g
        w_classic = w_classic + v
    result = run_steps("momentum", f"optimizer.lr={lr}")
    torch.testing.assert_close(result, w, rtol=0, atol=1e-6)
    torch.testing.assert_close(result, w_classic, rtol=0, atol=1e-6)


def test_nesterov_is_lookahead_form_shifted():
    """torch's Nesterov keeps the lookahead point theta = w + mu v of the classic form.

    Classic (Sutskever et al. 2013): v <- mu v - lr grad f(w + mu v), w <- w + v.
    torch: b <- mu b + g, theta <- theta - lr (g + mu b), with g = grad f(theta).
    On f(x) = 0.5 x'Ax - c'x both give the same theta = w + mu v after every step.
    """
    lr, mu = 0.05, 0.9
    a = torch.tensor([[3.0, 0.5], [0.5, 1.0]])
    c = torch.tensor([1.0, -2.0])

    def gradient(x):
        return a @ x - c

    parameter = nn.Parameter(torch.tensor([2.0, 1.0]))
    module = nn.Module()
    module.weight = parameter
    optimizer = optimizer_for("nesterov", module, f"optimizer.lr={lr}", "optimizer.momentum=0.9")
    w, v = parameter.detach().clone(), torch.zeros(2)
    for _ in range(10):
        parameter.grad = gradient(parameter.detach())
        optimizer.step()
        v = mu * v - lr * gradient(w + mu * v)
        w = w + v
        torch.testing.assert_close(parameter.detach(), w + mu * v, rtol=0, atol=1e-6)


def test_adagrad_sums_squared_gradients():
    lr, eps = 0.5, 1e-10
    w, total = START.clone(), torch.zeros_like(START)
    for g in GRADIENTS:
        total = total + g * g
        w = w - lr * g / (total.sqrt() + eps)
    torch.testing.assert_close(run_steps("adagrad", f"optimizer.lr={lr}"), w, rtol=0, atol=1e-6)


def test_rmsprop_moving_average_of_squares():
    lr, alpha, eps = 0.01, 0.99, 1e-8
    w, square = START.clone(), torch.zeros_like(START)
    for g in GRADIENTS:
        square = alpha * square + (1 - alpha) * g * g
        w = w - lr * g / (square.sqrt() + eps)
    torch.testing.assert_close(run_steps("rmsprop", f"optimizer.lr={lr}"), w, rtol=0, atol=1e-6)


def test_adam_bias_corrected_steps():
    """Step 1 is lr x sign(g) (bias correction); later steps follow the corrected moments."""
    lr, beta1, beta2, eps = 0.01, 0.9, 0.999, 1e-8
    first = run_steps("adam", f"optimizer.lr={lr}", steps=1)
    torch.testing.assert_close(first, START - lr * GRADIENTS[0].sign(), rtol=0, atol=1e-7)
    w, m, v = START.clone(), torch.zeros_like(START), torch.zeros_like(START)
    for t, g in enumerate(GRADIENTS, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        w = w - lr * m_hat / (v_hat.sqrt() + eps)
    torch.testing.assert_close(run_steps("adam", f"optimizer.lr={lr}"), w, rtol=0, atol=1e-6)


def test_adamw_decay_is_decoupled():
    """Weights shrink by 1 - lr wd before the Adam step, which weight decay does not enter."""
    lr, wd = 0.01, 0.5
    expected = START * (1 - lr * wd) - lr * GRADIENTS[0].sign()
    result = run_steps("adamw", f"optimizer.lr={lr}", f"optimizer.weight_decay={wd}", steps=1)
    torch.testing.assert_close(result, expected, rtol=0, atol=1e-7)


def test_lamb_applies_trust_ratio():
    """u = m / (sqrt(v) + eps) + wd w; w -= lr / (1 - beta1^t) min(|w|, 10) / (|u| + eps) u.

    pytorch_optimizer's Lamb corrects the bias of m in the step size and leaves v uncorrected.
    """
    lr, beta1, beta2, eps, wd = 0.01, 0.9, 0.999, 1e-6, 0.01
    w, m, v = START.clone(), torch.zeros_like(START), torch.zeros_like(START)
    ratios = []
    for t, g in enumerate(GRADIENTS, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        update = m / (v.sqrt() + eps) + wd * w
        ratio = w.norm().clamp(max=10.0) / (update.norm() + eps)
        ratios.append(ratio.item())
        w = w - lr / (1 - beta1**t) * ratio * update
    result = run_steps("lamb", f"optimizer.lr={lr}", f"optimizer.weight_decay={wd}")
    torch.testing.assert_close(result, w, rtol=0, atol=1e-6)
    # The trust ratio is far from 1 here, so a plain Adam step would fail the check above.
    assert abs(ratios[0] - 1.0) > 0.5


def test_lion_signs_interpolated_momentum():
    lr, beta1, beta2, wd = 0.001, 0.9, 0.99, 0.1
    w, m = START.clone(), torch.zeros_like(START)
    for g in GRADIENTS:
        direction = (beta1 * m + (1 - beta1) * g).sign()
        w = w * (1 - lr * wd) - lr * direction
        m = beta2 * m + (1 - beta2) * g
    result = run_steps("lion", f"optimizer.lr={lr}", f"optimizer.weight_decay={wd}")
    torch.testing.assert_close(result, w, rtol=0, atol=1e-7)


def test_adafactor_factored_first_steps():
    """beta2_t = 1 - t^-0.8; V = r c / mean(r) from row and column means of g^2;
    U = g / sqrt(V), clipped to RMS d = 1; w -= max(1e-3, RMS(w)) min(lr, 1 / sqrt(t)) U."""
    lr = 0.01
    w = START.clone()
    rows, cols = torch.zeros(2, 1), torch.zeros(1, 3)
    eps1 = torch.finfo(torch.float32).eps
    for t, g in enumerate(GRADIENTS, start=1):
        beta2 = 1 - t**-0.8
        rows = beta2 * rows + (1 - beta2) * (g * g).mean(dim=1, keepdim=True)
        cols = beta2 * cols + (1 - beta2) * (g * g).mean(dim=0, keepdim=True)
        variance = rows @ cols / rows.mean().clamp(min=eps1)
        update = g / variance.clamp(min=eps1 * eps1).sqrt()
        update = update / max(1.0, update.pow(2).mean().sqrt().item() / 1.0)
        alpha = max(1e-3, w.pow(2).mean().sqrt().item()) * min(lr, 1 / math.sqrt(t))
        w = w - alpha * update
    torch.testing.assert_close(run_steps("adafactor", f"optimizer.lr={lr}"), w, atol=1e-6, rtol=0)


def newton_schulz(matrix: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """Quintic Newton-Schulz orthogonalisation with Muon's coefficients, in float64."""
    a, b, c = 3.4445, -4.775, 2.0315
    x = matrix.double()
    transposed = x.shape[0] > x.shape[1]
    if transposed:
        x = x.T
    x = x / x.norm().clamp(min=1e-7)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return (x.T if transposed else x).float()


def test_muon_orthogonalises_matrices_and_adamw_steps_the_rest():
    """Muon: b = mu b + (1 - mu) g, u = NS((1 - mu) g + mu b) with Nesterov,
    w = w (1 - lr wd) - 0.2 sqrt(max(A, B)) lr u. The bias gets AdamW's lr x sign(g)."""
    lr, wd, mu = 0.01, 0.1, 0.95
    module = nn.Linear(3, 2)
    with torch.no_grad():
        module.weight.copy_(START)
        module.bias.copy_(torch.tensor([0.1, -0.2]))
    optimizer = optimizer_for("muon", module, f"optimizer.lr={lr}", f"optimizer.weight_decay={wd}")
    assert [group["name"] for group in optimizer.param_groups] == ["adamw_no_decay", "muon"]
    w, b = START.clone(), torch.zeros_like(START)
    bias_gradient = torch.tensor([0.5, -0.3])
    for g in GRADIENTS[:2]:
        module.weight.grad, module.bias.grad = g.clone(), bias_gradient.clone()
        optimizer.step()
        b = mu * b + (1 - mu) * g
        update = newton_schulz((1 - mu) * g + mu * b)
        w = w * (1 - lr * wd) - 0.2 * math.sqrt(3) * lr * update
    # Newton-Schulz runs in bfloat16 inside torch, so the match is to bfloat16's precision.
    torch.testing.assert_close(module.weight.detach(), w, rtol=0, atol=2e-4)
    first_bias = torch.tensor([0.1, -0.2]) - lr * bias_gradient.sign()
    second_bias = first_bias - lr * bias_gradient.sign()
    torch.testing.assert_close(module.bias.detach(), second_bias, rtol=0, atol=1e-6)


def test_schedulefree_eval_weights_are_the_average():
    """z <- z - lr g(y) / sqrt(v_hat); x <- (1 - c) x + c z with c_t = 1 / t (r = 0, constant lr);
    gradients are taken at y = (1 - beta1) z + beta1 x, and eval mode shows x."""
    lr, beta1, beta2, eps = 0.01, 0.9, 0.999, 1e-8
    a = torch.tensor([[3.0, 0.5], [0.5, 1.0]])
    c = torch.tensor([1.0, -2.0])
    parameter = nn.Parameter(torch.tensor([2.0, 1.0]))
    module = nn.Module()
    module.weight = parameter
    optimizer = optimizer_for("schedulefree_adamw", module, f"optimizer.lr={lr}")
    optimizer.train()
    x, z, v = parameter.detach().clone(), parameter.detach().clone(), torch.zeros(2)
    for t in range(1, 6):
        y = (1 - beta1) * z + beta1 * x
        torch.testing.assert_close(parameter.detach(), y, rtol=0, atol=1e-6)
        g = a @ y - c
        parameter.grad = a @ parameter.detach() - c
        optimizer.step()
        v = beta2 * v + (1 - beta2) * g * g
        z = z - lr * g / (v.sqrt() / math.sqrt(1 - beta2**t) + eps)
        x = (1 - 1 / t) * x + (1 / t) * z
    optimizer.eval()
    torch.testing.assert_close(parameter.detach(), x, rtol=0, atol=1e-6)


@pytest.mark.parametrize("n", [2, 5, 12, 30])
def test_lbfgs_minimises_convex_quadratic(n):
    """f(x) = 0.5 x'Ax - b'x with A positive definite (condition number 10): x = A^-1 b to 1e-8.

    With an exact line search L-BFGS would end in n iterations. torch's strong-Wolfe search
    (c2 = 0.9, fixed in torch 2.13) accepts the first step that meets the Wolfe conditions,
    so the bound checked here is the one measured for these problems: 3n iterations.
    """
    generator = torch.Generator().manual_seed(n)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))
    a = q @ torch.diag(torch.linspace(1.0, 10.0, n, dtype=torch.float64)) @ q.T
    b = torch.randn(n, generator=generator, dtype=torch.float64)
    solution = torch.linalg.solve(a, b)
    parameter = nn.Parameter(torch.zeros(n, dtype=torch.float64))
    module = nn.Module()
    module.weight = parameter
    optimizer = optimizer_for(
        "lbfgs",
        module,
        f"optimizer.max_iter={3 * n}",
        f"optimizer.max_eval={10 * n}",
        "optimizer.tolerance_grad=1e-14",
        "optimizer.tolerance_change=0",
    )

    def closure():
        optimizer.zero_grad()
        loss = 0.5 * parameter @ a @ parameter - b @ parameter
        loss.backward()
        return loss

    optimizer.step(closure)
    assert optimizer.state[parameter]["n_iter"] <= 3 * n
    assert (parameter.detach() - solution).abs().max().item() < 1e-8
