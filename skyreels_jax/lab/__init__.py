"""The sampler lab: sweeps of solver × schedule × NFE against a many-step reference (`skyreels-jax
samplers sweep`), their CSV, markdown and plot, and the search for a schedule that beats the fixed ones."""
