"""Training that models inference: targets, losses, the clip training loop, checkpoints."""
