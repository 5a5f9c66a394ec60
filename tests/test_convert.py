"""convert/: convert tiny published folders (both layouts), verify them against PyTorch, load them back."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from skyreels_jax import load_text_encoder, load_transformer
from skyreels_jax.checkpoints.converted import read_component
from skyreels_jax.conversion.__main__ import main
from skyreels_jax.conversion.convert_cmd import convert
from skyreels_jax.conversion.verify_cmd import verify
from skyreels_jax.models.components import load_converted
from tests import vae_fixtures
from tests.dit_fixtures import build_reference, save_original
from tests.encoder_fixtures import build_clip, build_umt5, make_tokenizer, save_clip_original, save_umt5_original
from tests.pipeline_fixtures import build_pipeline


def quiet(*_):
    pass


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory):
    root = tmp_path_factory.mktemp("src")
    return {mode: build_pipeline(mode, root / mode)[0] for mode in ("t2v", "i2v")}


@pytest.fixture(scope="module")
def original_repo(tmp_path_factory):
    """An original-layout repository: DF DiT (fps embedding) in shards, T5 and CLIP .pth. (An original
    Wan2.1_VAE.pth has no config: only the full-size VAE converts from it, too big for a test.)"""
    root = tmp_path_factory.mktemp("orig") / "SkyReels-V2-DF-tiny"
    save_original(build_reference("df"), root, "df")
    tok = make_tokenizer(root.parent / "tok")
    save_umt5_original(build_umt5(180), tok, root)
    save_clip_original(build_clip(), root)
    return root


def params(model) -> dict:
    from flax import nnx

    return {path: np.asarray(v.get_value()) for path, v in nnx.to_flat_state(nnx.state(model))}


def assert_bf16_round_trip(converted_back, exact) -> None:
    """Every parameter converted to bf16 and restored as float32 is the float32 one rounded once."""
    back, want = params(converted_back), params(exact)
    assert back.keys() == want.keys()
    for path, value in want.items():
        assert back[path].dtype == np.float32
        assert np.array_equal(back[path], value.astype(ml_dtypes.bfloat16).astype(np.float32)), path


def dit_inputs(cfg, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((1, 2, 4, 4, cfg.in_dim), np.float32), np.array([300.0], np.float32),
            rng.standard_normal((1, 512, cfg.text_dim), np.float32))


@pytest.mark.parametrize("mode", ["t2v", "i2v"])
def test_convert_verify_load_pipeline(pipelines, tmp_path, mode):
    src = pipelines[mode]
    dst = convert(str(src), str(tmp_path / "out"), "float32", log=quiet)
    lines = []
    assert verify(str(dst), str(src), log=lines.append) == []
    errors = [float(line.split("relative error ")[1].split()[0]) for line in lines if "relative error" in line]
    assert len(errors) == (4 if mode == "i2v" else 3) and max(errors) <= 1e-5, lines
    # a forward of the converted DiT equals the unconverted load's, bit for bit
    ours, plain = load_converted(dst, "transformer"), load_transformer(src)
    args = dit_inputs(plain.config)
    image = np.ones((1, 10, plain.config.image_dim), np.float32) if mode == "i2v" else None
    assert np.array_equal(np.asarray(ours(*args, image_context=image)), np.asarray(plain(*args, image_context=image)))
    text = load_converted(dst, "text_encoder").encode(["a cat walks"])
    assert np.array_equal(np.asarray(text), np.asarray(load_text_encoder(src).encode(["a cat walks"])))
    manifest = json.loads((dst / "skyreels_jax.json").read_text())
    assert manifest["mode"] == {"t2v": "text_to_video", "i2v": "image_to_video"}[mode]


def test_original_repository(original_repo, tmp_path, capsys):
    dst = tmp_path / "out"
    assert main(["convert", str(original_repo), str(dst), "--dtype", "float32"]) == 0
    assert main(["verify", str(dst), "--against", str(original_repo)]) == 0
    out = capsys.readouterr().out
    assert out.count("relative error") == 3 and "verify: OK" in out
    assert json.loads((dst / "skyreels_jax.json").read_text())["mode"] == "diffusion_forcing"
    assert (dst / "tokenizer" / "spiece.model").exists()
    assert main(["inspect", str(dst)]) == 0 and "image_encoder: from the original layout" in capsys.readouterr().out
    ours, plain = load_converted(dst, "transformer"), load_transformer(original_repo)
    args = dit_inputs(plain.config)
    assert np.array_equal(np.asarray(ours(*args, fps=[16])), np.asarray(plain(*args, fps=[16])))
    bf16 = convert(str(original_repo), str(tmp_path / "bf16"), "bfloat16", components=["dit"], log=quiet)
    assert_bf16_round_trip(load_converted(bf16, "transformer", jnp.float32), plain)


def test_rerun_skips_finished_and_redoes_unfinished(pipelines, tmp_path):
    src, out = pipelines["t2v"], tmp_path / "out"
    convert(str(src), str(out), "float32", components=["transformer"], log=quiet)
    assert not (out / "vae").exists()
    stamp = (out / "transformer" / "component.json").stat().st_mtime_ns
    (out / ".vae.partial" / "checkpoint").mkdir(parents=True)   # a crash left half a VAE
    lines = []
    convert(str(src), str(out), "float32", log=lines.append)
    assert lines[0] == "transformer: already converted, skipped"
    assert (out / "transformer" / "component.json").stat().st_mtime_ns == stamp
    assert (out / "vae" / "component.json").exists() and not (out / ".vae.partial").exists()
    assert set(json.loads((out / "skyreels_jax.json").read_text())["components"]) == {"transformer", "vae",
                                                                                      "text_encoder"}
    with pytest.raises(FileExistsError, match="already holds transformer .* as float32"):
        convert(str(src), str(out), "bfloat16", components=["dit"], log=quiet)


def test_bf16_conversion(pipelines, tmp_path):
    src = pipelines["i2v"]
    dst = convert(str(src), str(tmp_path / "out"), "bfloat16", log=quiet)
    for name in ("transformer", "text_encoder", "image_encoder"):
        assert {d for _, d in read_component(dst, name)["tensors"].values()} == {"bfloat16"}, name
    assert {d for _, d in read_component(dst, "vae")["tensors"].values()} == {"float32"}
    assert load_converted(dst, "transformer").blocks.self_attn.q.kernel[...].dtype == jnp.bfloat16
    assert_bf16_round_trip(load_converted(dst, "transformer", jnp.float32), load_transformer(src))
    lines = []
    assert verify(str(dst), str(src), log=lines.append) == [], lines   # within bf16 rounding (3e-2)


def _resave(dst: Path, name: str, change) -> None:
    """Rewrite a converted component's checkpoint with one tensor changed (a damaged conversion)."""
    import orbax.checkpoint as ocp

    from skyreels_jax.checkpoints.orbax_io import flatten, nest

    ckpt = dst / name / "checkpoint"
    tree = flatten(ocp.v1.load(ckpt))
    change(tree)
    shutil.rmtree(ckpt)
    ocp.v1.save(ckpt, nest(tree))


def test_corrupted_checkpoint_fails_verify(pipelines, tmp_path, capsys):
    dst = convert(str(pipelines["t2v"]), str(tmp_path / "out"), "float32", log=quiet)
    _resave(dst, "transformer", lambda t: t.pop(("blocks", "1", "ffn", "fc1", "kernel")))
    _resave(dst, "text_encoder", lambda t: t.update({("norm", "scale"): np.ones(3, np.float32)}))
    assert main(["verify", str(dst)]) == 1
    out = capsys.readouterr().out
    assert "transformer: tensor blocks/1/ffn/fc1/kernel is missing" in out
    assert "text_encoder: tensor norm/scale has shape (3,), the config expects (32,)" in out
    assert "vae: 194 tensors, float32: OK" in out


def test_bad_inputs_name_what_is_wrong(pipelines, original_repo, tmp_path, capsys, monkeypatch):
    def fails(*argv):
        assert main([*map(str, argv)]) == 2
        return capsys.readouterr().err

    truncated = tmp_path / "trunc"
    save_original(build_reference("t2v"), truncated, "t2v")
    shard = truncated / "model-00002-of-00002.safetensors"
    shard.write_bytes(shard.read_bytes()[:-100])
    assert "model-00002-of-00002.safetensors is truncated" in fails("convert", truncated, tmp_path / "o1")
    assert "has no image_encoder" in fails("convert", pipelines["t2v"], tmp_path / "o2", "--components",
                                           "image_encoder")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "config.json").write_text('{"model_type": "bert"}')
    assert "no known layout" in fails("convert", tmp_path / "odd", tmp_path / "o3")
    (tmp_path / "a_file").write_text("")
    assert "is not writable" in fails("convert", pipelines["t2v"], tmp_path / "a_file" / "dst")
    tiny_vae = vae_fixtures.save_original(vae_fixtures.build_reference(), tmp_path / "vae")
    assert "but the VAE config (base_dim=96, z_dim=16) expects" in fails("convert", tiny_vae.parent, tmp_path / "o5")
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    assert "pip install 'skyreels-jax[convert]'" in fails("convert", original_repo, tmp_path / "o4",
                                                          "--components", "text_encoder")
    assert "not a converted checkpoint" in fails("verify", tmp_path / "o2")


@pytest.fixture(scope="module")
def converted_t2v(pipelines, tmp_path_factory):
    """The t2v fixture converted in float32 (read-only: tests that damage a conversion make their own)."""
    return convert(str(pipelines["t2v"]), str(tmp_path_factory.mktemp("conv") / "t2v"), "float32", log=quiet)


def test_load_converted_onto_a_mesh(converted_t2v):
    code = f"""
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
import numpy as np
from flax import nnx
from skyreels_jax.models.components import load_converted
from skyreels_jax.parallel import make_mesh
from skyreels_jax.pipelines import load_pipeline
mesh = make_mesh(fsdp=2, tensor=2)
dit, plain = load_converted("{converted_t2v}", "dit", mesh=mesh), load_converted("{converted_t2v}", "dit")
q = dit.blocks.self_attn.q.kernel[...]
assert tuple(q.sharding.spec) == (None, "fsdp", "tensor"), q.sharding.spec
for (path, a), (_, b) in zip(nnx.to_flat_state(nnx.state(dit)), nnx.to_flat_state(nnx.state(plain))):
    assert np.array_equal(np.asarray(a.get_value()), np.asarray(b.get_value())), path
pipe = load_pipeline("{converted_t2v}", mesh=mesh)
assert tuple(pipe.dit.blocks.self_attn.q.kernel[...].sharding.spec) == (None, "fsdp", "tensor")
text = pipe.text_encoder.get().model.blocks
assert any(len(v.get_value().sharding.device_set) == 4 for _, v in nnx.to_flat_state(nnx.state(text)))
print("sharded ok")
"""
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(root)})
    assert "sharded ok" in result.stdout, result.stderr[-3000:]


def test_load_pipeline_takes_a_converted_folder(pipelines, converted_t2v):
    from skyreels_jax.pipelines import load_pipeline

    kw = dict(num_frames=5, height=32, width=32, num_steps=2, seed=1, progress=False)
    converted = load_pipeline(converted_t2v)
    assert converted.folder.layout == "converted" and converted.mode == "text_to_video"
    assert np.array_equal(converted("a cat", **kw), load_pipeline(pipelines["t2v"], cache=False)("a cat", **kw))


def test_converted_vae_loads_one_half(converted_t2v):
    """What load_pipeline does with a converted folder: the decoder now, the encoder when an image comes."""
    from flax import nnx

    def flat(vae):
        return {p: np.asarray(v.get_value()) for p, v in nnx.to_flat_state(nnx.state(vae))}
    whole = load_converted(converted_t2v, "vae")
    for part in ("encoder", "decoder"):
        half = flat(load_converted(converted_t2v, "vae", parts=(part,)))
        expected = flat(whole.half(part))
        assert half.keys() == expected.keys() and all(np.array_equal(half[p], expected[p]) for p in half)
    with pytest.raises(ValueError, match="halves of the VAE"):
        load_converted(converted_t2v, "transformer", parts=("encoder",))


def test_format_1_folder_still_loads(pipelines, tmp_path):
    """A folder converted before the blocks were stored one leaf per layer (format 1: stacked) loads and verifies."""
    src = pipelines["t2v"]
    dst = convert(str(src), str(tmp_path / "out"), "float32", components=["dit"], log=quiet)

    def restack(tree):
        layers = {}
        for path in [p for p in tree if p[0] == "blocks"]:
            layers.setdefault(("blocks", *path[2:]), {})[int(path[1])] = tree.pop(path)
        tree.update({path: np.stack([v[i] for i in sorted(v)]) for path, v in layers.items()})

    _resave(dst, "transformer", restack)
    info_file = dst / "transformer" / "component.json"
    info = json.loads(info_file.read_text())
    info_file.write_text(json.dumps({**info, "format": 1}))
    assert verify(str(dst), log=quiet) == []
    old = params(load_converted(dst, "transformer"))
    assert all(np.array_equal(old[p], v) for p, v in params(load_transformer(src)).items())
    info_file.write_text(json.dumps({**info, "format": 99}))
    with pytest.raises(ValueError, match="converted format 99, newer than this skyreels-jax reads"):
        load_converted(dst, "transformer")


@pytest.fixture
def fake_bucket(tmp_path, monkeypatch):
    """gs://bucket/... kept in a local folder, so that a remote DST runs with no network: etils.epath
    through its mock backend, and Orbax's entry points (whose tensorstore would go to GCS) through
    wrappers that record the path they are given, then use the local folder. Yields (paths given
    to Orbax, the folder)."""
    import orbax.checkpoint as ocp
    from etils import epath
    from etils.epath import testing
    from orbax.checkpoint.experimental.v1 import partial

    folder = tmp_path / "bucket"
    folder.mkdir()

    def local(arg):
        text = str(arg)
        return text.replace("gs://bucket", str(folder), 1) if text.startswith("gs://bucket") else arg

    def redirect(fn, *args, **kwargs):
        return fn(*map(local, args), **kwargs)

    given = []

    def wrap(fn):
        def call(path, *args, **kwargs):
            given.append(str(path))
            return fn(epath.Path(local(path)), *args, **kwargs)
        return call

    for module, name in ((ocp.v1, "save"), (ocp.v1, "load"), (ocp.v1, "metadata"), (partial, "save"),
                         (partial, "finalize")):
        monkeypatch.setattr(module, name, wrap(getattr(module, name)))
    names = ("copy", "exists", "glob", "isdir", "listdir", "makedirs", "mkdir", "open", "remove", "rename",
             "replace", "rmtree", "stat", "walk")
    with testing.mock_epath(**{name: redirect for name in names}):
        yield given, folder


def test_gs_destination_is_not_mangled(pipelines, fake_bucket):
    from skyreels_jax.hub import resolve
    from skyreels_jax.pipelines import load_pipeline

    given, folder = fake_bucket
    src, dst = pipelines["t2v"], "gs://bucket/runs/t2v"
    assert str(resolve(dst)) == dst
    assert str(convert(str(src), dst, "float32", components=["dit"], log=quiet)) == dst
    assert given and all(p.startswith(f"{dst}/transformer/checkpoint") for p in given), given
    assert (folder / "runs/t2v/transformer/component.json").exists()
    assert not list((folder / "runs/t2v").glob(".*partial*"))   # written in place: a bucket has no rename
    lines = []
    convert(str(src), dst, "float32", log=lines.append)
    assert lines[0] == "transformer: already converted, skipped" and len(lines) == 3
    pipe = load_pipeline(dst)
    assert str(pipe.folder.root) == dst and pipe.folder.layout == "converted"
    assert params(pipe.dit).keys() == params(load_transformer(src)).keys()
    assert np.array_equal(np.asarray(pipe.text_encoder.get().encode(["a cat"])),  # tokenizer read from the bucket
                          np.asarray(load_text_encoder(src).encode(["a cat"])))
    with pytest.raises(FileNotFoundError, match="only converted checkpoints load from a remote path"):
        load_pipeline("gs://bucket/elsewhere")


def test_relative_dst(pipelines, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # Orbax refuses relative paths: they are made absolute
    convert(str(pipelines["t2v"]), "out", "float32", components=["dit"], log=quiet)
    assert (tmp_path / "out" / "transformer" / "component.json").exists()
    assert load_converted("out", "dit").config.num_layers == 2


def test_bf16_source_keep_or_float32(tmp_path):
    import torch

    from tests.dit_fixtures import save_diffusers

    src = save_diffusers(build_reference("t2v").to(torch.bfloat16), tmp_path / "bf16")
    for dtype, expected in (("keep", "bfloat16"), ("float32", "float32")):
        dst = convert(str(src), str(tmp_path / dtype), dtype, log=quiet)
        assert {d for _, d in read_component(dst, "transformer")["tensors"].values()} == {expected}


@pytest.mark.slow
def test_conversion_memory_at_real_width_does_not_grow_with_depth(tmp_path):
    """The bound stated in README.md (Converting): converting a DiT of 14B width (dim 5120) to bf16
    peaks under 1 GiB above the process baseline, at 2 and 6 layers alike (about 2 min, 7 GB of disk)."""
    from benchmarks.convert_memory import measure, write_source

    peaks = []
    for layers in (2, 6):
        write_source(tmp_path / f"src{layers}", layers)
        base, peak, _ = measure("convert", tmp_path / f"src{layers}", tmp_path / "dst", "bfloat16")
        peaks.append(peak - base)
        shutil.rmtree(tmp_path / f"src{layers}")
    assert max(peaks) < 1024, peaks                          # MiB
    assert peaks[1] < peaks[0] + 256, peaks                  # 3x the depth, the same peak


def test_python_m_convert_runs_from_a_checkout(tmp_path):
    """The top-level convert/ shim: `python -m convert` from the repository root runs the package's tools."""
    root = Path(__file__).parents[1]
    out = subprocess.run([sys.executable, "-m", "convert", "inspect", str(tmp_path / "missing")], cwd=root,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "does not exist" in out.stderr, out.stderr


def test_inspect_takes_an_embedded_models_name(capsys):
    from skyreels_jax.cli import main as cli

    assert cli(["inspect", "toy"]) == 0
    out = capsys.readouterr().out
    assert "assets/toy/transformer" in out and "assets/toy/vae" in out
