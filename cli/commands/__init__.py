"""The commands, one module per area; ``cli.main`` loads them all."""
