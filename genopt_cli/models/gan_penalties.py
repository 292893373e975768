"""Gradient penalties on a discriminator's input: R1 and WGAN-GP.

Both differentiate D's scores with respect to its input and keep the graph, so the penalty's
own gradient reaches D's weights in the discriminator's backward pass. Under fp16 the input
gradients are taken of the scaled scores and then divided by the scale, as in the gradient
penalty example of torch's "Automatic Mixed Precision examples" notes. So small input gradients
do not underflow in float16, and the penalty is computed from the unscaled values.
"""

from collections.abc import Callable

import torch


def input_gradients(
    scores: torch.Tensor, inputs: torch.Tensor, scaler: torch.amp.GradScaler | None = None
) -> torch.Tensor:
    """Return d(sum of scores)/d(inputs), unscaled, with the graph kept for a second backward.

    `inputs` must have had requires_grad set before `scores` = D(inputs) was computed.
    """
    if scaler is None:
        (gradient,) = torch.autograd.grad(scores.float().sum(), inputs, create_graph=True)
        return gradient
    # Each example's score depends on its own input only, so the gradient of the mean is the
    # gradient of the sum over N. The mean keeps the gradient reaching each float16 score at
    # scale / N: the sum would send the scale itself, and 2^16 (the initial scale) is inf in
    # float16. scaler.scale multiplies by the scale tensor on the device, with no host sync.
    scale = scaler.scale(torch.ones((), device=scores.device))
    scaled_mean = scores.float().mean() * scale
    (scaled_gradient,) = torch.autograd.grad(scaled_mean, inputs, create_graph=True)
    # NOTE: when the scaled gradient still overflows, the penalty is inf. The scaler then skips
    # the discriminator's step and lowers its scale, as for any overflowing backward, but the
    # logged loss of that step is inf too.
    return scaled_gradient * (len(scores) / scale)


def r1_penalty(
    scores: torch.Tensor, real: torch.Tensor, scaler: torch.amp.GradScaler | None = None
) -> torch.Tensor:
    """Return the R1 penalty E |grad_x D(x)|^2 over the real batch, unweighted.

    The squared norm is over each example's whole input, then averaged over the batch.
    """
    gradient = input_gradients(scores, real, scaler)
    return gradient.pow(2).flatten(1).sum(1).mean()


def wgan_gp_penalty(
    discriminator: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    scaler: torch.amp.GradScaler | None = None,
) -> torch.Tensor:
    """Return the WGAN-GP penalty E (|grad D(x_hat)| - 1)^2, unweighted.

    x_hat = u x_real + (1 - u) x_fake with u ~ U(0, 1) drawn once per example, and |.| is the
    Euclidean norm over that example's whole input.
    """
    shape = (len(real),) + (1,) * (real.dim() - 1)
    u = torch.rand(shape, device=real.device, dtype=real.dtype)
    mixed = (u * real.detach() + (1.0 - u) * fake.detach()).requires_grad_(True)
    gradient = input_gradients(discriminator(mixed), mixed, scaler)
    norms = torch.linalg.vector_norm(gradient.flatten(1), dim=1)
    return (norms - 1.0).pow(2).mean()
