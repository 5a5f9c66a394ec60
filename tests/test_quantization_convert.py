"""convert --dtype int8|fp8: quantized checkpoints that load with no flag and match quantizing after a float load."""
import json

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from skyreels_jax import load_pipeline
from skyreels_jax.checkpoints.converted import read_component
from skyreels_jax.conversion.__main__ import main
from skyreels_jax.conversion.convert_cmd import convert
from skyreels_jax.conversion.verify_cmd import verify
from skyreels_jax.models.components import load_converted
from skyreels_jax.models.quantization import quantize, quantized_kernels
from tests.pipeline_fixtures import build_pipeline


def quiet(*_):
    pass


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return build_pipeline("i2v", tmp_path_factory.mktemp("src") / "i2v")[0]


@pytest.fixture(scope="module")
def float_folder(source, tmp_path_factory):
    return convert(str(source), str(tmp_path_factory.mktemp("bf16") / "out"), "bfloat16", log=quiet)


def params(model) -> dict:
    return {path: np.asarray(v.get_value()) for path, v in nnx.to_flat_state(nnx.state(model))}


@pytest.mark.parametrize("mode", ["int8", "fp8"])
def test_quantized_folder_holds_and_loads_what_quantizing_a_float_load_gives(source, float_folder, tmp_path, mode):
    dst = convert(str(source), str(tmp_path / "out"), mode, log=quiet)
    manifest = json.loads((dst / "skyreels_jax.json").read_text())
    assert manifest["quantize"] == mode
    assert manifest["components"] == {"transformer": mode, "text_encoder": mode, "vae": "float32",
                                      "image_encoder": "bfloat16"}
    storage = {"int8": "int8", "fp8": "float8_e4m3fn"}[mode]
    for name in ("transformer", "text_encoder"):
        info = read_component(dst, name)
        assert info["quantize"] == mode and info["config"]["param_dtype"] == "bfloat16"
        loaded = load_converted(dst, name)   # no flag: the stored mode
        network = loaded.model if name == "text_encoder" else loaded
        kernels = quantized_kernels(network)
        assert kernels and all(info["tensors"]["/".join(map(str, k))][1] == storage for k in kernels)
        # bit for bit what loading the bf16 conversion and quantizing gives
        want = load_converted(float_folder, name, quantize=mode)
        got, expected = params(network), params(want.model if name == "text_encoder" else want)
        assert got.keys() == expected.keys()
        for path in expected:
            assert got[path].dtype == expected[path].dtype, path
            assert np.array_equal(got[path].view(np.uint8), expected[path].view(np.uint8)), path
    lines = []
    assert verify(str(dst), str(source), log=lines.append) == [], lines


def test_quantized_folder_runs_dynamic_not_another_format(source, tmp_path):
    dst = convert(str(source), str(tmp_path / "out"), "int8", components=["dit"], log=quiet)
    dit = load_converted(dst, "transformer", quantize="int8-dynamic")
    assert dit.blocks.ffn.fc1.quant == "int8-dynamic" and dit.blocks.ffn.fc1.kernel[...].dtype == jnp.int8
    with pytest.raises(ValueError, match="holds int8 weights, which cannot run as fp8"):
        load_converted(dst, "transformer", quantize="fp8")
    with pytest.raises(ValueError, match="already quantized"):
        quantize(dit, "int8")


def test_pipeline_from_a_quantized_folder_records_its_mode(source, tmp_path, capsys):
    dst = tmp_path / "out"
    assert main(["convert", str(source), str(dst), "--dtype", "int8"]) == 0
    assert main(["verify", str(dst)]) == 0
    assert main(["inspect", str(dst)]) == 0
    assert "transformer: from the diffusers layout, written as int8" in capsys.readouterr().out
    pipe = load_pipeline(dst)
    assert pipe.quantize == "int8" and pipe.dit.blocks.self_attn.q.quant == "int8"
    assert pipe.text_encoder.get().model.blocks.attn.q.quant == "int8"


@pytest.mark.parametrize("cache", [False, True])
def test_loading_quantized_from_a_float_source_equals_quantizing_after(source, tmp_path, monkeypatch, cache):
    from skyreels_jax import load_text_encoder, load_transformer
    from skyreels_jax.models.dit.loader import load_transformer_cached

    monkeypatch.setenv("SKYREELS_JAX_CACHE", str(tmp_path / "cache"))
    for mode in ("int8", "fp8-dynamic"):
        want = params(quantize(load_transformer(source, jnp.bfloat16), mode))
        for _ in range(2 if cache else 1):   # with the cache: converted, then restored
            dit = load_transformer_cached(source, jnp.bfloat16, cache=cache, quantize=mode)
            assert dit.blocks.self_attn.q.quant == mode
            got = params(dit)
            assert got.keys() == want.keys() and all(np.array_equal(got[p].view(np.uint8), want[p].view(np.uint8))
                                                     for p in want)
    text = load_text_encoder(source, quantize="int8")
    want = params(quantize(load_text_encoder(source), "int8").model)
    got = params(text.model)
    assert got.keys() == want.keys() and all(np.array_equal(got[p], want[p]) for p in want)
