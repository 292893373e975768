"""Run the genopt command line until its first optimizer step, then print the time and exit.

A global optimizer-step hook (torch.optim.optimizer.register_optimizer_step_post_hook) prints
time.time() after the first step of any optimizer and ends the process at once, so the caller
can subtract the time at which it started this process.

    python bench/first_step.py train model=vae [OVERRIDES]
"""

import os
import sys
import time

from torch.optim.optimizer import register_optimizer_step_post_hook

from genopt_cli.cli import main


def exit_after_first_step(optimizer, args, kwargs) -> None:
    print(f"first_step_time {time.time():.6f}", flush=True)
    os._exit(0)


if __name__ == "__main__":
    register_optimizer_step_post_hook(exit_after_first_step)
    sys.argv = ["genopt", *sys.argv[1:]]
    main()
