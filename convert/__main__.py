"""python -m convert {convert,verify,inspect}: runs skyreels_jax.conversion, where the tools live."""
import sys

from skyreels_jax.conversion.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
