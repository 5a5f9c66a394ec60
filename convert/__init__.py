"""`python -m convert` from a checkout: the checkpoint tools of skyreels_jax.conversion (see its --help)."""
