"""`python -m tpu.plan --topology v6e:2x4 --model T2V-14B-720P`: the planner from a checkout (the same as
`skyreels-jax plan`)."""
import sys

from skyreels_jax.planning.cli import main

if __name__ == "__main__":
    sys.exit(main())
