"""Peak host memory of `convert` on a DiT of real 14B width (dim 5120, ffn 13824, 40 heads) at reduced depth,
and of restoring the converted DiT.

    python -m benchmarks.convert_memory [--layers 2 4 8] [--dtype keep bfloat16 float32] [--work /tmp/convmem]

Writes random bf16 weights in the original layout as two safetensors shards, then converts
them in a fresh subprocess per setting and reads its peak RSS (VmHWM, reset after the
imports; ru_maxrss would count the parent's memory, as Linux keeps it across exec). Prints the peak
against the checkpoint, the largest shard, the largest single converted tensor (time_projection,
6·dim × dim), the largest stacked parameter (the ffn kernel over all layers, which format-1
conversion built whole on the host) and the baseline RSS of a process that has only imported the
libraries. For the
bfloat16 conversion it also restores the converted DiT (load_converted, stored dtypes) in a
fresh process and prints that peak beside the restored model's size.
The bound is stated in README.md (Converting); tests/test_convert.py checks it (slow).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import ml_dtypes
import numpy as np

WIDE = dict(model_type="t2v", text_len=512, in_dim=16, out_dim=16, dim=5120, ffn_dim=13824, freq_dim=256,
            num_heads=40, eps=1e-6)
MB = 1 << 20


def original_shapes(layers: int) -> dict[str, tuple]:
    d, f = WIDE["dim"], WIDE["ffn_dim"]
    shapes = {"patch_embedding.weight": (d, 16, 1, 2, 2), "patch_embedding.bias": (d,),
              "text_embedding.0.weight": (d, 4096), "text_embedding.0.bias": (d,),
              "text_embedding.2.weight": (d, d), "text_embedding.2.bias": (d,),
              "time_embedding.0.weight": (d, 256), "time_embedding.0.bias": (d,),
              "time_embedding.2.weight": (d, d), "time_embedding.2.bias": (d,),
              "time_projection.1.weight": (6 * d, d), "time_projection.1.bias": (6 * d,),
              "head.head.weight": (64, d), "head.head.bias": (64,), "head.modulation": (1, 2, d)}
    for i in range(layers):
        b = f"blocks.{i}."
        for attn in ("self_attn", "cross_attn"):
            for p in "qkvo":
                shapes[f"{b}{attn}.{p}.weight"], shapes[f"{b}{attn}.{p}.bias"] = (d, d), (d,)
            shapes[f"{b}{attn}.norm_q.weight"] = shapes[f"{b}{attn}.norm_k.weight"] = (d,)
        shapes.update({f"{b}norm3.weight": (d,), f"{b}norm3.bias": (d,), f"{b}ffn.0.weight": (f, d),
                       f"{b}ffn.0.bias": (f,), f"{b}ffn.2.weight": (d, f), f"{b}ffn.2.bias": (d,),
                       f"{b}modulation": (1, 6, d)})
    return shapes


def write_source(folder: Path, layers: int) -> tuple[int, int]:
    """Random bf16 weights in two shards, written one tensor at a time; (total bytes, largest shard bytes)."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(dict(WIDE, num_layers=layers)))
    shapes = original_shapes(layers)
    keys = sorted(shapes)
    noise = (np.random.default_rng(0).standard_normal(1 << 20) * 0.02).astype(ml_dtypes.bfloat16)
    sizes = []
    for n, part in enumerate((keys[: len(keys) // 2], keys[len(keys) // 2:])):
        tensors = {k: np.resize(noise, shapes[k]) for k in part}
        save_file(tensors, str(folder / f"model-0000{n + 1}-of-00002.safetensors"))
        sizes.append(sum(t.nbytes for t in tensors.values()))
        del tensors
    return sum(sizes), max(sizes)


CHILD = """
import sys, time
import jax, orbax.checkpoint, flax, numpy
from skyreels_jax.conversion.convert_cmd import convert
from skyreels_jax.heap import trim_heap_after_compiles
from skyreels_jax.models.components import load_converted

trim_heap_after_compiles()  # as the skyreels-jax command runs

def status(field):
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(field + ":"))

open("/proc/self/clear_refs", "w").write("5")  # restart the peak (VmHWM) from here
base = status("VmRSS")
start = time.perf_counter()
if sys.argv[1] == "convert":
    convert(sys.argv[2], sys.argv[3], sys.argv[4], log=lambda *_: None)
else:
    dit = load_converted(sys.argv[3], "transformer")
    jax.block_until_ready(jax.tree.leaves(flax.nnx.state(dit)))
print(base, status("VmHWM"), time.perf_counter() - start)
"""


def measure(what: str, src: Path, dst: Path, dtype: str) -> tuple[float, float, float]:
    """(RSS after the imports, peak RSS, seconds) of `convert` SRC DST or `restore` DST, in a fresh process (MB)."""
    if what == "convert":
        shutil.rmtree(dst, ignore_errors=True)
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", CHILD, what, str(src), str(dst), dtype], cwd=root, check=True,
                         capture_output=True, text=True).stdout.split()
    return int(out[0]) / 1024, int(out[1]) / 1024, float(out[2])  # /proc/self/status counts KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--dtype", nargs="+", default=["keep", "bfloat16", "float32"])
    parser.add_argument("--work", default="/tmp/convert_memory")
    args = parser.parse_args()
    work = Path(args.work)
    print("| layers | step | dtype | checkpoint MB | largest shard MB | largest tensor MB | stacked ffn MB | "
          "baseline RSS MB | peak RSS MB | peak - baseline MB | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for layers in args.layers:
        src = work / f"src-{layers}"
        shutil.rmtree(src, ignore_errors=True)
        total, shard = write_source(src, layers)
        for dtype in args.dtype:
            itemsize = 4 if dtype == "float32" else 2  # the source is bf16, so "keep" is bf16 too
            tensor = 6 * WIDE["dim"] * WIDE["dim"] * itemsize  # time_projection
            stacked = layers * WIDE["ffn_dim"] * WIDE["dim"] * itemsize  # ffn kernel over all layers
            steps = ["convert", "restore"] if dtype == "bfloat16" else ["convert"]
            for step in steps:
                base, peak, seconds = measure(step, src, work / "dst", dtype)
                size = f"{total / MB:,.0f}" if step == "convert" else f"{total / MB:,.0f} (restored model)"
                print(f"| {layers} | {step} | {dtype} | {size} | {shard / MB:,.0f} | {tensor / MB:,.0f} | "
                      f"{stacked / MB:,.0f} | "
                      f"{base:,.0f} | {peak:,.0f} | {peak - base:,.0f} | {seconds:.1f} |", flush=True)
        shutil.rmtree(src, ignore_errors=True)
    shutil.rmtree(work / "dst", ignore_errors=True)


if __name__ == "__main__":
    main()
