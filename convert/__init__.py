"""Command-line checkpoint tools: `python -m convert --help`. The key maps live in skyreels_jax.checkpoints."""
