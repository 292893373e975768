"""`genopt train` under torchrun, with a fault on rank 1 at step FAULT_STEP of the VAE.

FAULT=nan makes rank 1's loss NaN there; FAULT=sigterm sends rank 1 alone a SIGTERM there.
torchrun runs this file in place of `-m genopt_cli`, with the same arguments.
"""

import os
import signal
import sys

from genopt_cli.cli import main
from genopt_cli.models.vae import VAETask

FAULT_STEP = 3
original_loss = VAETask.loss


def loss(self, player, batch, step):
    value, metrics = original_loss(self, player, batch, step)
    if os.environ["RANK"] == "1" and step == FAULT_STEP:
        if os.environ["FAULT"] == "nan":
            value = value * float("nan")
        else:
            os.kill(os.getpid(), signal.SIGTERM)
    return value, metrics


VAETask.loss = loss
main(["train", *sys.argv[1:]])
