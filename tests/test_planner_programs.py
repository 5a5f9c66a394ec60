"""The planner lowers the programs a generation runs: its DiT step, VAE decode and text encode take the
same arguments (parameter trees, shapes, dtypes, static values) as the calls of a real pipeline of the same
model, so the memory it reports is that of the programs that run."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skyreels_jax.nn import jit as nn_jit
from skyreels_jax.parallel import make_mesh
from skyreels_jax.pipelines import conditioning, diffusion_forcing, load_pipeline, sampling
from skyreels_jax.planning import programs
from tests.pipeline_fixtures import build_df_pipeline, build_pipeline

VIDEO = (9, 32, 32)  # frames, height, width
PROMPT = "a red circle moves right on a black background"


def abstract(tree):
    """Arrays and ShapeDtypeStructs as (shape, dtype); static arguments as they are."""
    return jax.tree.map(lambda x: (tuple(x.shape), jnp.dtype(x.dtype).name) if hasattr(x, "shape") else x, tree)


class Recorder:
    """Stands in for a jitted function: records the arguments (after the graphdef) of its calls and of its
    lowerings, then runs the function."""

    def __init__(self, fn):
        self.fn, self.called, self.lowered = fn, [], []

    def __call__(self, graphdef, *args):
        self.called.append(abstract(args))
        return self.fn(graphdef, *args)

    def lower(self, graphdef, *args):
        self.lowered.append(abstract(args))
        return self.fn.lower(graphdef, *args)


@pytest.fixture
def recorders(monkeypatch):
    out = {name: Recorder(fn) for name, fn in [("step", sampling._step), ("row", diffusion_forcing._row),
                                               ("decode", conditioning._decode_uint8), ("apply", nn_jit._apply)]}
    monkeypatch.setattr(sampling, "_step", out["step"])
    monkeypatch.setattr(diffusion_forcing, "_row", out["row"])
    monkeypatch.setattr(conditioning, "_decode_uint8", out["decode"])
    monkeypatch.setattr(programs, "_decode_uint8", out["decode"])
    monkeypatch.setattr(nn_jit, "_apply", out["apply"])
    return out


def trimmed(args, n):
    """The first n arguments, and the rest only where they are given (the planner leaves defaults out)."""
    return args[:n] + tuple(a for a in args[n:] if a is not None)


@pytest.mark.parametrize("mode, dtype", [("t2v", jnp.bfloat16), ("i2v", jnp.float32), ("flf2v", jnp.bfloat16),
                                         ("df", jnp.float32)])
def test_the_planned_programs_are_the_ones_a_pipeline_runs(mode, dtype, recorders, tmp_path):
    folder = (build_df_pipeline(tmp_path) if mode == "df" else build_pipeline(mode, tmp_path))[0]
    pipe = load_pipeline(folder, dtype, cache=False)
    image = np.full((VIDEO[1], VIDEO[2], 3), 128, np.uint8)
    images = dict(i2v=dict(image=image), flf2v=dict(image=image, end_image=image)).get(mode, {})
    pipe(PROMPT, num_frames=VIDEO[0], height=VIDEO[1], width=VIDEO[2], num_steps=programs.STEPS, progress=False,
         **images)
    text_call = recorders["apply"].called[0]   # the text encoder runs first

    configs = dict(transformer=pipe.dit.config, text_encoder=pipe.text_encoder.get().config, vae=pipe.vae.config)
    if pipe.image_encoder is not None:
        configs["image_encoder"] = pipe.image_encoder.get().config
    mesh = make_mesh()
    planned = programs.Pipeline(configs, "DF" if mode == "df" else "I2V" if pipe.image_encoder else "T2V", VIDEO, mesh)
    with jax.set_mesh(mesh):
        for program in planned.programs():
            program.lower()

    step = recorders["row" if mode == "df" else "step"]
    assert len(step.lowered) == 1 and len(step.called) >= programs.STEPS
    assert step.lowered[0] == trimmed(step.called[0], len(step.lowered[0]))
    assert recorders["decode"].lowered == recorders["decode"].called[:1]
    assert recorders["apply"].lowered == [text_call]
