"""Checkpoint tools: convert a published folder to Orbax, verify a converted one, inspect either.

Run as `skyreels-jax convert|verify|inspect`, `python -m skyreels_jax.conversion`, or `python -m convert`
from a checkout. Each network's key map lives in its own folder under skyreels_jax.models.
"""
