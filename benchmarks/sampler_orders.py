"""Observed order of convergence of the solvers on the toy model, far past the sweep's NFE, and how
rough its velocity is in the timestep: why second-order solvers do not lead at 4-32 evaluations.

    python -m benchmarks.sampler_orders [--reference 4000] [--nfe 64 128 256 512 1024 2048]

One toy prompt (seed 0, 17 frames, CFG 3, the "simple" schedule: float timesteps). Each solver's
latent RMSE against Heun with --reference steps, and the slope between successive NFE values
(1 for a first-order solver, 2 for a second-order one once the steps resolve the field). Then the
velocity at a fixed noisy input for t on a 0.1-timestep grid over ±20 timesteps around 900, 500
and 100: how far it strays from a quadratic fit, and its first and second derivative at that
resolution against the fit's slope.
"""
from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

PROMPT = "a blue square moves left on a black background"
CALL = dict(height=32, width=32, guidance_scale=3.0, base_num_frames=17, num_frames=17, progress=False,
            output="latents", seed=0, schedule="simple")


def orders(pipe, reference_steps: int, nfes: list[int]) -> None:
    ref = pipe(PROMPT, scheduler="heun", num_steps=reference_steps, **CALL)
    half = pipe(PROMPT, scheduler="heun", num_steps=reference_steps // 2, **CALL)
    print(f"reference: heun {reference_steps} steps; heun {reference_steps // 2} differs by "
          f"{np.sqrt(np.mean((half - ref) ** 2)):.1e} (latent std {ref.std():.2f})")
    print("| solver | " + " | ".join(f"NFE {n}" for n in nfes) + " | slopes |\n|---|" + "---|" * (len(nfes) + 1))
    for solver in ("euler", "heun", "dpmpp_2m"):
        steps = [(n + 1) // 2 if solver == "heun" else n for n in nfes]  # Heun: 2n - 1 evaluations
        errs = [float(np.sqrt(np.mean((pipe(PROMPT, scheduler=solver, num_steps=k, **CALL) - ref) ** 2)))
                for k in steps]
        slopes = " ".join(f"{np.log2(a / b) / np.log2(m / n):.2f}"
                          for a, b, n, m in zip(errs, errs[1:], nfes, nfes[1:]))
        print(f"| {solver} | " + " | ".join(f"{e:.5f}" for e in errs) + f" | {slopes} |")


def roughness(pipe) -> None:
    context = pipe.encode_text([PROMPT])
    x = jax.random.normal(jax.random.PRNGKey(0), (1, 5, 8, 8, pipe.vae.config.z_dim))
    velocity = jax.jit(lambda t: pipe.dit.forward(x, jnp.full((1, 5), t, jnp.float32), context, None))
    print("\n| t | rms v | rms residual of a quadratic over ±20 | rms dv/dt (0.1 grid) | fit slope | rms d²v/dt² |")
    print("|---|---|---|---|---|---|")
    for centre in (900, 500, 100):
        ts = np.linspace(centre - 20, centre + 20, 401)
        vs = np.stack([np.asarray(velocity(t)).ravel() for t in ts])
        basis = np.stack([np.ones_like(ts), ts - centre, (ts - centre) ** 2], 1)
        coef = np.linalg.lstsq(basis, vs, rcond=None)[0]
        dt = ts[1] - ts[0]
        def rms(a):
            return float(np.sqrt(np.mean(a ** 2)))
        print(f"| {centre} | {rms(vs):.3f} | {rms(vs - basis @ coef):.4f} | {rms(np.diff(vs, axis=0)) / dt:.4f} "
              f"| {rms(coef[1]):.4f} | {rms(np.diff(vs, 2, axis=0)) / dt**2:.4f} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", type=int, default=4000)
    ap.add_argument("--nfe", type=int, nargs="+", default=[64, 128, 256, 512, 1024, 2048])
    args = ap.parse_args(argv)
    from skyreels_jax.pipelines import load_pipeline

    pipe = load_pipeline("toy")
    orders(pipe, args.reference, args.nfe)
    roughness(pipe)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
