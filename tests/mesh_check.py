"""Run in a subprocess with 8 virtual CPU devices (see test_parallel_sequence.py). On each mesh
(data, fsdp, context, tensor) of MESHES, against one device, float32:
- Ulysses and ring attention (with and without block ids);
- the DiT forward, loaded through load_pipeline onto the mesh (sequence parallel where context > 1);
- diffusion-forcing sampling of one window (async, causal blocks, CFG, a clean prefix with added noise);
- the whole pipeline call (uint8 frames) and the split VAE decode;
- parameter bytes per device, measured on the shards and predicted from the rule table;
- `skyreels-jax generate --mesh 1,2,4,1 --sequence-parallel ulysses` (the same video).

usage: python -m tests.mesh_check [--quick]   (--quick: the first two context meshes only)
"""
import contextlib
import functools
import json
import os
import sys
import tempfile
from pathlib import Path
from unittest import mock

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from skyreels_jax import media  # noqa: E402
from skyreels_jax.cli import main as cli_main  # noqa: E402
from skyreels_jax.media import read_video  # noqa: E402
from skyreels_jax.models.vae.split import decode_split  # noqa: E402
from skyreels_jax.nn.attention import attention  # noqa: E402
from skyreels_jax.parallel import MESH_AXES, make_mesh, sequence_parallel  # noqa: E402
from skyreels_jax.parallel.memory import param_bytes_per_device  # noqa: E402
from skyreels_jax.pipelines import load_pipeline  # noqa: E402
from skyreels_jax.pipelines.diffusion_forcing import DFSettings, sample_window  # noqa: E402
from tests.conftest import rel_err  # noqa: E402
from tests.pipeline_fixtures import build_df_pipeline  # noqa: E402
from tests.test_dit_parity import make_inputs  # noqa: E402

TOL = 1e-5
MESHES = [(8, 1, 1, 1), (1, 8, 1, 1), (1, 2, 4, 1), (2, 1, 4, 1), (1, 1, 2, 4)]
SP = {(1, 2, 4, 1): "ulysses", (2, 1, 4, 1): "ring", (1, 1, 2, 4): "ulysses"}  # 8 heads: Ulysses divides everywhere
DF = DFSettings(num_steps=3, shift=8.0, guidance=5.0, ar_step=1, causal_block_size=2, addnoise_condition=20.0,
                causal_attention=True)
CLI_MESH = (1, 2, 4, 1)
CALL = dict(num_frames=9, height=64, width=64, num_steps=2, seed=3, progress=False)


def check_attention(meshes) -> None:
    keys = jax.random.split(jax.random.key(0), 3)
    q, k, v = (jax.random.normal(key, (2, 30, 8, 16)) for key in keys)  # 30 tokens: padded on 4 and 8
    block = jnp.arange(30) // 7
    plain = attention(q, k, v, backend="xla")
    causal = attention(q, k, v, q_block=block, k_block=block, backend="xla")
    worst = 0.0
    for shape in meshes:
        with jax.set_mesh(make_mesh(*shape)):
            for backend in ("ulysses", "ring", "ulysses:chunked"):
                out = jax.jit(lambda q, k, v: attention(q, k, v, backend=backend))(q, k, v)
                out_c = jax.jit(lambda q, k, v: attention(q, k, v, q_block=block, k_block=block,
                                                          backend=backend))(q, k, v)
                worst = max(worst, rel_err(np.asarray(out), np.asarray(plain)),
                            rel_err(np.asarray(out_c), np.asarray(causal)))
    assert worst < TOL, worst
    print(f"attention ulysses/ring vs plain over {len(meshes)} meshes: worst rel {worst:.1e}")
    check_ring_with_splash(meshes[0])


def check_ring_with_splash(shape) -> None:
    """Ring steps run splash on TPU and merge the shards by log-sum-exp: here splash in interpret mode."""
    keys = jax.random.split(jax.random.key(1), 3)
    q, k, v = (jax.random.normal(key, (2, 60, 2, 128)) for key in keys)
    plain = attention(q, k, v, backend="xla")
    interpreted = functools.partial(sequence_parallel.splash_attention, interpret=True)
    with mock.patch.object(sequence_parallel, "splash_attention", interpreted), jax.set_mesh(make_mesh(*shape)):
        out = jax.jit(lambda q, k, v: sequence_parallel.ring_attention(q, k, v, inner="splash"))(q, k, v)
    err = rel_err(np.asarray(out), np.asarray(plain))
    assert err < TOL, err
    print(f"ring with splash (interpret) on {shape} vs plain: rel {err:.1e}")


def run(pipe, inputs, context, noise, fps_ids, z):
    """(DiT forward, DF window latents, pipeline frames, VAE decode) of one pipeline, under its mesh."""
    with jax.set_mesh(pipe.mesh) if pipe.mesh is not None else contextlib.nullcontext():
        forward = np.asarray(pipe.dit(**inputs))
        window = np.asarray(sample_window(pipe.dit, noise, 1, None, context, fps_ids, DF, 0, 0, progress=False))
    frames = pipe("a red circle", **CALL)
    decoded = decode_split(pipe.vae, z, pipe.mesh) if pipe.mesh is not None else pipe.vae.decode(z)
    return forward, window, frames, np.asarray(decoded)


def check_cli(folder, tmp: Path, frames) -> None:
    """`skyreels-jax generate --mesh ... --sequence-parallel ...` makes the frames the pipeline makes on that mesh."""
    out = tmp / "cli.mp4"
    argv = ["generate", "--model", str(folder), "--prompt", "a red circle", "--num-frames", "9", "--height", "64",
            "--width", "64", "--steps", "2", "--seed", "3", "--output", str(out),
            "--mesh", ",".join(map(str, CLI_MESH)), "--sequence-parallel", SP[CLI_MESH]]
    written = []  # the frames handed to the writer (libx264 does not encode the same frames to the same file)
    write = media.write_video
    media.write_video = lambda path, video, **kw: (written.append(np.asarray(video)), write(path, video, **kw))[1]
    try:
        assert cli_main(argv) == 0
    finally:
        media.write_video = write
    assert np.array_equal(written[0], frames) and read_video(out).shape == frames.shape
    meta = json.loads(out.with_name(out.name + ".json").read_text())
    assert meta["mesh"] == dict(zip(MESH_AXES, CLI_MESH)) and meta["sequence_parallel"] == SP[CLI_MESH], meta
    print(f"generate --mesh {meta['mesh']} --sequence-parallel {meta['sequence_parallel']}: same video")
    auto = tmp / "auto.mp4"
    argv = [*argv[:argv.index("--output")], "--output", str(auto), "--mesh", "auto"]
    assert cli_main(argv) == 0
    meta = json.loads(auto.with_name(auto.name + ".json").read_text())
    # the tiny model fits anywhere: the first candidate, the CFG pair over data and the rest on fsdp
    assert meta["mesh"] == dict(zip(MESH_AXES, (2, 4, 1, 1))) and meta["sequence_parallel"] is None, meta
    print(f"generate --mesh auto: {meta['mesh']}")


def main(quick: bool) -> None:
    assert jax.device_count() == 8
    tmp = Path(tempfile.mkdtemp())
    os.environ["SKYREELS_JAX_CACHE"] = str(tmp / "cache")  # the mesh runs restore the single run's cache entry
    folder, pipes = build_df_pipeline(tmp, num_attention_heads=8, attention_head_dim=8)
    meshes = [m for m in MESHES if m in SP][:2] if quick else MESHES
    check_attention([m for m in meshes if m[2] > 1])

    single = load_pipeline(folder)
    inputs = make_inputs(pipes["t2v"].transformer, "df", 2, fps=16)
    context = np.asarray(single.encode_text(["a red circle", "blurry"]))
    z_dim = single.vae.config.z_dim
    noise = np.asarray(jax.random.normal(jax.random.key(1), (1, 5, 8, 8, z_dim)))
    fps_ids = np.array([1, 1], np.int32)
    z = np.random.default_rng(0).standard_normal((2, 3, 8, 8, z_dim)).astype(np.float32)
    expected = run(single, inputs, context, noise, fps_ids, z)
    full = param_bytes_per_device(single.dit, make_mesh(1, 1, 1, 1, devices=jax.devices()[:1]))

    by_fsdp = {}
    for shape in meshes:
        mesh = make_mesh(*shape)
        sp = SP.get(shape)
        pipe = load_pipeline(folder, mesh=mesh, dit_overrides={"sequence_parallel": sp} if sp else None)
        forward, window, frames, decoded = run(pipe, inputs, context, noise, fps_ids, z)
        errs = [rel_err(forward, expected[0]), rel_err(window, expected[1]), rel_err(decoded, expected[3])]
        frame_diff = int(np.abs(frames.astype(int) - expected[2]).max())
        measured = sum(x.addressable_shards[0].data.nbytes for x in jax.tree.leaves(pipe.dit)
                       if hasattr(x, "addressable_shards"))
        predicted = param_bytes_per_device(pipe.dit, mesh)
        assert max(errs) <= TOL and frame_diff <= 1 and measured == predicted, (shape, errs, frame_diff, measured)
        by_fsdp.setdefault(shape[1] * shape[3], measured)
        if shape == CLI_MESH:
            check_cli(folder, tmp, frames)
        print(f"mesh {shape} {sp or '-':7s}: dit rel {errs[0]:.1e}, df sampling rel {errs[1]:.1e}, "
              f"vae decode rel {errs[2]:.1e}, frames max diff {frame_diff}/255, "
              f"param bytes/device {measured} of {full} ({measured / full:.3f})")
    if not quick:  # weights are cut over fsdp (and tensor) only: 8 ways leaves about 1/8 on each device
        assert by_fsdp[1] == full and by_fsdp[2] < full / 2 * 1.05 and by_fsdp[8] < full / 8 * 1.2, by_fsdp
        print(f"param bytes per device by fsdp×tensor: {by_fsdp}")


if __name__ == "__main__":
    sys.exit(main("--quick" in sys.argv))
