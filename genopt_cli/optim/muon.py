"""Muon for 2-D weight matrices and AdamW for every other parameter, as one optimizer.

torch.optim.Muon (torch 2.9 and later) orthogonalises the momentum of each matrix with
Newton-Schulz iterations and accepts only 2-D parameters. Embeddings, biases, norm weights and
convolution kernels go to torch.optim.AdamW. One `step()` steps both, and `param_groups` lists
the groups of both, so schedules, lr logging and gradient clipping see a single optimizer.
"""

import torch
from torch import nn
from torch.optim import Optimizer

MUON = "muon"
ADAMW = "adamw"


def parameter_role(module: nn.Module, parameter: nn.Parameter) -> str:
    """Return `muon` for 2-D weights other than embeddings, else `adamw`."""
    if parameter.ndim == 2 and not isinstance(module, nn.Embedding):
        return MUON
    return ADAMW


class MuonWithAdamW(Optimizer):
    """Muon on the groups whose role is `muon`, AdamW on the others, with one lr and weight decay.

    With adjust_lr_fn="match_rms_adamw" Muon scales each matrix's update to the RMS of an
    AdamW update (0.2 sqrt(max(A, B))), so one lr and weight decay suit both halves.
    """

    # build_optimizer routes each parameter to a group by this function.
    parameter_role = staticmethod(parameter_role)

    def __init__(
        self,
        params,
        lr: float,
        weight_decay: float,
        momentum: float,
        nesterov: bool,
        ns_coefficients: tuple[float, float, float],
        ns_steps: int,
        muon_eps: float,
        adjust_lr_fn: str | None,
        betas: tuple[float, float],
        eps: float,
        foreach: bool | None = None,
    ):
        groups = list(params)
        muon_groups = [g for g in groups if g["role"] == MUON]
        adamw_groups = [g for g in groups if g["role"] == ADAMW]
        self.optimizers: dict[str, Optimizer] = {}
        if muon_groups:
            self.optimizers[MUON] = torch.optim.Muon(
                muon_groups,
                lr=lr,
                weight_decay=weight_decay,
                momentum=momentum,
                nesterov=nesterov,
                ns_coefficients=tuple(ns_coefficients),
                eps=muon_eps,
                ns_steps=ns_steps,
                adjust_lr_fn=adjust_lr_fn,
            )
        if adamw_groups:
            self.optimizers[ADAMW] = torch.optim.AdamW(
                adamw_groups,
                lr=lr,
                betas=tuple(betas),
                eps=eps,
                weight_decay=weight_decay,
                foreach=foreach,
            )
        # The inner optimizers filled in their defaults on these same dicts. Registering the
        # dicts again here, in the order given, shares them: a schedule that sets group["lr"]
        # reaches both, and the first group stays the first.
        super().__init__(groups, defaults={"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for optimizer in self.optimizers.values():
            optimizer.step()
        return loss

    def state_dict(self) -> dict:
        return {name: optimizer.state_dict() for name, optimizer in self.optimizers.items()}

    def load_state_dict(self, state_dict: dict) -> None:
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state_dict[name])
