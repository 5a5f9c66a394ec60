"""LoRA files at inference: each published layout merged into the DiT matches PyTorch with the same LoRA applied."""
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from skyreels_jax import load_transformer
from skyreels_jax.checkpoints.fill import CheckpointError
from skyreels_jax.models.dit.lora_files import merge_loras
from skyreels_jax.values import path_and_strength
from tests.dit_fixtures import build_reference, reference_forward, save_diffusers, to_original_name

TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "ffn.net.0.proj", "ffn.net.2"]


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((1, 2, 4, 4, 16), np.float32), np.array([300.0], np.float32),
            rng.standard_normal((1, 512, 24), np.float32))


def with_adapter(alpha: int, rank: int = 4):
    """A tiny diffusers DiT with a random PEFT LoRA on its attention and FFN layers; (model, LoRA state)."""
    from peft import LoraConfig, get_peft_model_state_dict

    model = build_reference("t2v")
    torch.manual_seed(1)
    model.add_adapter(LoraConfig(r=rank, lora_alpha=alpha, target_modules=TARGETS, init_lora_weights=False))
    return model, get_peft_model_state_dict(model)


def toy_lora(path, module: str, d_in: int, d_out: int, seed: int, scale: float = 1.0):
    """A rank-2 kohya LoRA file for one original-layout layer of the toy DiT ("blocks.0.ffn.0")."""
    torch.manual_seed(seed)
    save_file({f"diffusion_model.{module}.lora_down.weight": scale * torch.randn(2, d_in),
               f"diffusion_model.{module}.lora_up.weight": scale * torch.randn(d_out, 2)}, str(path))
    return path


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dit")
    save_diffusers(build_reference("t2v"), folder)
    return folder


def test_peft_layout_matches_pytorch(base, tmp_path):
    model, lora = with_adapter(alpha=4)   # a PEFT file carries no alpha: its scale is 1
    save_file({f"transformer.{k}": v.contiguous() for k, v in lora.items()}, str(tmp_path / "peft.safetensors"))
    want = reference_forward(model, *inputs())
    ours = merge_loras(load_transformer(base), [(tmp_path / "peft.safetensors", 1.0)])
    assert rel(np.asarray(ours(*inputs())), want) <= 1e-5
    plain = np.asarray(load_transformer(base)(*inputs()))
    assert rel(plain, want) > 1e-2   # the LoRA changes the output
    zero = merge_loras(load_transformer(base), [(tmp_path / "peft.safetensors", 0.0)])
    assert np.array_equal(np.asarray(zero(*inputs())), plain)


def test_kohya_layout_with_alpha_matches_pytorch(base, tmp_path):
    model, lora = with_adapter(alpha=8)   # scale alpha / rank = 2
    kohya = {}
    for key, value in lora.items():
        module, factor = key.rsplit(".lora_", 1)
        name = "lora_unet_" + to_original_name(module + ".weight").removesuffix(".weight").replace(".", "_")
        kohya[f"{name}.lora_{'down' if factor.startswith('A') else 'up'}.weight"] = value.contiguous()
        kohya[f"{name}.alpha"] = torch.tensor(8.0)
    save_file(kohya, str(tmp_path / "kohya.safetensors"))
    ours = merge_loras(load_transformer(base), [(tmp_path / "kohya.safetensors", 1.0)])
    assert rel(np.asarray(ours(*inputs())), reference_forward(model, *inputs())) <= 1e-5


def test_full_differences_match_pytorch(base, tmp_path):
    model = build_reference("t2v")
    torch.manual_seed(2)
    diffs = {"diffusion_model.blocks.1.self_attn.q.diff": 0.1 * torch.randn(32, 32),
             "diffusion_model.blocks.1.self_attn.q.diff_b": 0.1 * torch.randn(32),
             "diffusion_model.head.head.diff": 0.1 * torch.randn(64, 32)}
    with torch.no_grad():
        model.blocks[1].attn1.to_q.weight += diffs["diffusion_model.blocks.1.self_attn.q.diff"]
        model.blocks[1].attn1.to_q.bias += diffs["diffusion_model.blocks.1.self_attn.q.diff_b"]
        model.proj_out.weight += diffs["diffusion_model.head.head.diff"]
    save_file(diffs, str(tmp_path / "diff.safetensors"))
    ours = merge_loras(load_transformer(base), [(tmp_path / "diff.safetensors", 1.0)])
    assert rel(np.asarray(ours(*inputs())), reference_forward(model, *inputs())) <= 1e-5
    from skyreels_jax.models.dit.lora_runtime import attach_loras

    with pytest.raises(CheckpointError, match="merge this file"):   # no low-rank form to apply at run time
        attach_loras(load_transformer(base), [(tmp_path / "diff.safetensors", 1.0)])


def test_keys_that_match_nothing_are_named(base, tmp_path):
    save_file({"transformer.blocks.0.attn9.to_q.lora_A.weight": torch.zeros(4, 32),
               "transformer.blocks.0.attn9.to_q.lora_B.weight": torch.zeros(32, 4)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(CheckpointError, match=r"match no layer of this DiT, e.g. \['blocks.0.attn9.to_q'\]"):
        merge_loras(load_transformer(base), [(tmp_path / "x.safetensors", 1.0)])
    merge_loras(load_transformer(base), [(tmp_path / "x.safetensors", 1.0)], allow_unmatched=True)
    assert path_and_strength("a/b.safetensors:0.5") == ("a/b.safetensors", 0.5)
    assert path_and_strength("C:/x.safetensors") == ("C:/x.safetensors", 1.0)


def test_generate_lora_on_the_toy_model_changes_the_video_and_records_it(tmp_path):
    import json

    from skyreels_jax.cli import main
    from skyreels_jax.pipelines import load_pipeline

    dit = load_pipeline("toy").dit
    toy_lora(tmp_path / "toy.safetensors", "blocks.0.ffn.0", dit.config.dim, dit.config.ffn_dim, seed=3, scale=0.5)
    common = ["generate", "--model", "toy", "--prompt", "a red ball moves left", "--num-frames", "5",
              "--steps", "2", "--seed", "0"]
    assert main([*common, "--output", str(tmp_path / "plain.mp4")]) == 0
    assert main([*common, "--lora", f"{tmp_path / 'toy.safetensors'}:0.7", "--output", str(tmp_path / "l.mp4")]) == 0
    meta = json.loads((tmp_path / "l.mp4.json").read_text())
    assert meta["loras"] == [[str(tmp_path / "toy.safetensors"), 0.7]] and meta["lora_mode"] == "merge"
    assert (tmp_path / "plain.mp4").read_bytes() != (tmp_path / "l.mp4").read_bytes()
    assert main([*common, "--lora", f"{tmp_path / 'toy.safetensors'}:0.7", "--lora-mode", "runtime",
                 "--output", str(tmp_path / "r.mp4")]) == 0
    assert json.loads((tmp_path / "r.mp4.json").read_text())["lora_mode"] == "runtime"
    assert main([*common, "--lora-mode", "runtime", "--output", str(tmp_path / "x.mp4")]) == 2
    assert not (tmp_path / "x.mp4").exists()


def test_pipeline_runtime_loras_switch_strength_between_calls(tmp_path):
    from skyreels_jax.pipelines import load_pipeline

    dim = load_pipeline("toy").dit.config.dim
    lora = [(toy_lora(tmp_path / "o.safetensors", "blocks.0.cross_attn.o", dim, dim, seed=5), 0.7)]
    call = dict(num_frames=5, num_steps=2, seed=1, output="latents")
    plain = np.asarray(load_pipeline("toy")("a red ball moves left", **call))
    merged = np.asarray(load_pipeline("toy", loras=lora)("a red ball moves left", **call))
    pipe = load_pipeline("toy", loras=lora, lora_mode="runtime")
    assert rel(np.asarray(pipe("a red ball moves left", **call)), merged) <= 1e-5
    pipe.set_lora_strengths([0.0])
    assert np.array_equal(np.asarray(pipe("a red ball moves left", **call)), plain)
    with pytest.raises(ValueError, match="lora_mode"):
        load_pipeline("toy", loras=lora, lora_mode="fused")
    with pytest.raises(ValueError, match="runtime"):
        load_pipeline("toy").set_lora_strengths([1.0])


def test_lora_then_quantize_in_load_pipeline(tmp_path):
    from flax import nnx

    from skyreels_jax.models.quantization import quantize
    from skyreels_jax.pipelines import load_pipeline

    dit = load_pipeline("toy").dit
    toy_lora(tmp_path / "q.safetensors", "blocks.1.self_attn.q", dit.config.dim, dit.config.dim, seed=4)
    pipe = load_pipeline("toy", quantize="int8", low_memory=True, loras=[(tmp_path / "q.safetensors", 0.5)])
    want = quantize(merge_loras(dit, [(tmp_path / "q.safetensors", 0.5)]), "int8")

    def params(model):
        return {p: np.asarray(v.get_value()) for p, v in nnx.to_flat_state(nnx.state(model))}

    got, expected = params(pipe.dit), params(want)
    assert got.keys() == expected.keys() and all(np.array_equal(got[p], expected[p]) for p in expected)
    assert pipe.quantize == "int8"
    for _ in range(2):   # loaded on first use, freed, loaded again: quantized each time
        assert pipe.text_encoder.get().model.blocks.attn.q.quant == "int8"
        pipe.text_encoder.free()


def test_runtime_equals_merged_and_strengths_switch_without_reloading(base, tmp_path):
    from skyreels_jax.models.dit.lora_runtime import attach_loras, set_lora_strengths

    files = []
    for alpha, seed in ((4, 1), (16, 2)):
        torch.manual_seed(seed)
        _, lora = with_adapter(alpha=alpha, rank=4 if seed == 1 else 2)
        files.append(tmp_path / f"lora{seed}.safetensors")
        save_file({f"transformer.{k}": v.contiguous() for k, v in lora.items()}, str(files[-1]))
    plain = np.asarray(load_transformer(base)(*inputs()))
    runtime = attach_loras(load_transformer(base), [(files[0], 1.0), (files[1], 0.5)])
    for strengths in ((1.0, 0.5), (0.3, 2.0), (0.0, 1.0)):
        set_lora_strengths(runtime, strengths)
        merged = merge_loras(load_transformer(base), list(zip(files, strengths)))
        out = np.asarray(runtime(*inputs()))
        assert rel(out, np.asarray(merged(*inputs()))) <= 1e-5
        assert rel(out, plain) > 1e-2
    set_lora_strengths(runtime, (0.0, 0.0))
    assert np.array_equal(np.asarray(runtime(*inputs())), plain)
    with pytest.raises(ValueError, match="2 finite strength"):
        set_lora_strengths(runtime, (1.0,))
    # a last file that matches nothing (allowed) still takes its place among the strengths
    save_file({"transformer.nothere.lora_A.weight": torch.ones(2, 4), "transformer.nothere.lora_B.weight":
               torch.ones(4, 2)}, str(tmp_path / "other.safetensors"))
    extra = attach_loras(load_transformer(base), [(files[0], 1.0), (tmp_path / "other.safetensors", 1.0)],
                         allow_unmatched=True)
    set_lora_strengths(extra, (0.3, 5.0))
    single = merge_loras(load_transformer(base), [(files[0], 0.3)])
    assert rel(np.asarray(extra(*inputs())), np.asarray(single(*inputs()))) <= 1e-5


def test_loras_on_a_mesh_match_one_device():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-m", "tests.lora_mesh_check"], cwd=root, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(root)}, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "runtime on int8, strength 2.0" in result.stdout
