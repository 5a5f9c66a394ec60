"""Quantized loading: the toy pipeline and generate --quantize (onto a mesh: test_quantization_mesh.py)."""
import json

import jax.numpy as jnp
import pytest

from skyreels_jax.cli import main
from skyreels_jax.media import read_video
from skyreels_jax.pipelines import load_pipeline


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SKYREELS_JAX_CACHE", str(tmp_path / "cache"))


def test_generate_quantize_writes_video_and_records_the_mode(tmp_path):
    out = tmp_path / "v.mp4"
    argv = ["generate", "--model", "toy", "--prompt", "a red circle moves left on a black background",
            "--num-frames", "17", "--height", "32", "--width", "32", "--steps", "3", "--base-num-frames", "17",
            "--quantize", "int8", "--output", str(out)]
    assert main(argv) == 0
    assert read_video(out).shape == (17, 32, 32, 3)
    assert json.loads((tmp_path / "v.mp4.json").read_text())["quantize"] == "int8"


def test_pipeline_quantizes_the_dit_and_the_text_encoder_only():
    pipe = load_pipeline("toy", quantize="fp8")
    assert pipe.quantize == "fp8"
    assert pipe.dit.blocks.ffn.fc1.kernel[...].dtype == jnp.float8_e4m3fn
    assert pipe.dit.head.head.kernel[...].dtype == jnp.float32
    assert pipe.text_encoder.get().model.blocks.attn.q.kernel[...].dtype == jnp.float8_e4m3fn


def test_generate_refuses_an_unknown_mode(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--model", "toy", "--prompt", "x", "--quantize", "int4"])
    assert "invalid choice: 'int4'" in capsys.readouterr().err
