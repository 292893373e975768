"""Training: the loop over players, EMA, checkpoints and the run that ties them together."""
