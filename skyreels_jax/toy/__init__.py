"""The toy model: a synthetic moving-shapes world, its dataset, the training recipe
(`python -m skyreels_jax.toy.build`), pixel metrics and the evaluation script."""
