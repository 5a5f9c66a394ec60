"""A student DiT saved as a LoRA of its teacher (models.dit.lora_extract): exact at full rank, closer than the
teacher at a small rank, read back by our merge path, by load_pipeline and by diffusers + PEFT."""
import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from skyreels_jax import load_transformer
from skyreels_jax.checkpoints.errors import CheckpointError
from skyreels_jax.models.dit.lora_extract import lora_tensors, save_lora
from skyreels_jax.models.dit.lora_files import merge_loras
from skyreels_jax.models.dit.lora_runtime import attach_loras
from tests.conftest import rel_err
from tests.dit_fixtures import build_reference, reference_forward, save_diffusers
from tests.test_dit_parity import make_inputs

FULL = 64   # at least the smallest side of every linear kernel of the tiny DiT


def perturbed(model, seed: int = 1, low_rank: int = 2):
    """A copy of a diffusers DiT with every parameter moved: a rank-`low_rank` step on each linear weight
    plus a small full-rank one on every parameter (the shape of a fine-tune's or a distillation's change)."""
    import copy

    student = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in student.named_parameters():
            p += 0.005 * torch.randn(p.shape, generator=g)
            if p.ndim == 2 and min(p.shape) > low_rank:
                p += 0.05 * torch.randn(p.shape[0], low_rank, generator=g) @ torch.randn(low_rank, p.shape[1],
                                                                                           generator=g)
    return student


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(teacher folder, student folder, teacher diffusers model): the DF variant, so the fps embedding and its
    projection are among the parameters."""
    root = tmp_path_factory.mktemp("pair")
    teacher = build_reference("df")
    return save_diffusers(teacher, root / "teacher"), save_diffusers(perturbed(teacher), root / "student"), teacher


def forward(dit, inputs):
    return np.asarray(dit(**inputs))


def test_full_rank_lora_reproduces_the_student(pair, tmp_path):
    teacher_dir, student_dir, reference = pair
    student = load_transformer(student_dir)
    file = save_lora(student, load_transformer(teacher_dir), tmp_path / "full.safetensors", rank=FULL)
    keys = load_file(str(file)).keys()
    assert "transformer.blocks.0.attn1.to_q.lora_A.weight" in keys and "transformer.proj_out.lora_B.weight" in keys
    assert {"transformer.blocks.1.scale_shift_table.diff", "transformer.fps_embedding.diff",
            "transformer.patch_embedding.diff", "transformer.blocks.0.attn1.to_q.diff_b",
            "transformer.blocks.0.norm2.diff"} <= set(keys)
    merged = merge_loras(load_transformer(teacher_dir), [(file, 1.0)])
    inputs = make_inputs(reference, "df", 1, fps=24)
    assert rel_err(forward(merged, inputs), forward(student, inputs)) <= 1e-5
    assert not list(tmp_path.glob(".*tmp*"))   # written through a temporary file, renamed


def test_small_rank_is_closer_than_the_teacher_and_smaller(pair, tmp_path):
    teacher_dir, student_dir, reference = pair
    student, teacher = load_transformer(student_dir), load_transformer(teacher_dir)
    inputs = make_inputs(reference, "df", 1, fps=16)
    target = forward(student, inputs)
    small = save_lora(student, teacher, tmp_path / "r2.safetensors", rank=2)
    full = save_lora(student, teacher, tmp_path / "full.safetensors", rank=FULL)
    error = rel_err(forward(merge_loras(load_transformer(teacher_dir), [(small, 1.0)]), inputs), target)
    assert error < 0.5 * rel_err(forward(teacher, inputs), target)
    assert small.stat().st_size < 0.5 * full.stat().st_size
    assert small.stat().st_size < (student_dir / "diffusion_pytorch_model.safetensors").stat().st_size
    assert not any(k.endswith((".diff", ".diff_b")) for k in lora_tensors(student, teacher, 2, linear_only=True))
    # runtime LoRAs take the linear-only file and refuse the full differences
    linear = save_lora(student, teacher, tmp_path / "linear.safetensors", rank=2, linear_only=True)
    merged = forward(merge_loras(load_transformer(teacher_dir), [(linear, 1.0)]), inputs)
    assert rel_err(forward(attach_loras(load_transformer(teacher_dir), [(linear, 1.0)]), inputs), merged) <= 1e-5
    with pytest.raises(CheckpointError, match="merge this file"):
        attach_loras(load_transformer(teacher_dir), [(small, 1.0)])


def test_extracted_lora_through_load_pipeline_matches_the_shipped_student(tmp_path):
    """The embedded toy model plus the LoRA extracted from its 4-step student is that student."""
    from skyreels_jax.hub import TOY, TOY_FAST
    from skyreels_jax.pipelines import load_pipeline

    student = load_transformer(TOY_FAST / "transformer")
    file = save_lora(student, load_transformer(TOY / "transformer"), tmp_path / "fast.safetensors", rank=128)
    dit = load_pipeline("toy", cache=False, loras=[(file, 1.0)]).dit
    rng = np.random.default_rng(0)
    inputs = dict(latents=rng.standard_normal((1, 2, 4, 4, 8), np.float32), timestep=np.array([700.0], np.float32),
                  context=rng.standard_normal((1, 512, 32), np.float32))
    assert rel_err(forward(dit, inputs), forward(student, inputs)) <= 1e-5


def test_diffusers_and_peft_read_the_lora(pair, tmp_path):
    """diffusers' load_lora_adapter takes the file, and its forward with the adapter equals ours with the
    linear-only file merged: the full file's .diff/.diff_b keys are no PEFT layer, and diffusers skips them."""
    teacher_dir, student_dir, reference = pair
    student, teacher = load_transformer(student_dir), load_transformer(teacher_dir)
    linear = save_lora(student, teacher, tmp_path / "linear.safetensors", rank=4, linear_only=True)
    full = save_lora(student, teacher, tmp_path / "full.safetensors", rank=4)
    inputs = make_inputs(reference, "df", 1, fps=24)
    theirs = {}
    for file in (linear, full):
        model = build_reference("df")   # the teacher again, fresh (load_lora_adapter changes the model)
        model.load_lora_adapter(str(file), prefix="transformer", adapter_name="student")
        theirs[file] = reference_forward(model, **inputs)
    np.testing.assert_array_equal(theirs[full], theirs[linear])
    ours = forward(merge_loras(load_transformer(teacher_dir), [(linear, 1.0)]), inputs)
    assert rel_err(theirs[linear], ours) <= 1e-5
    assert rel_err(ours, reference_forward(reference, **inputs)) > 1e-3   # the adapter is live
