"""The error of a checkpoint that cannot be used: it names the file (or key) and what is wrong with it."""
from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint does not match the model (a missing, unexpected or misshapen key), or its file is unreadable:
    a corrupt header, a config field of the wrong type, a pickle that would need code to load."""
