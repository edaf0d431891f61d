"""wandb_bridge."""
