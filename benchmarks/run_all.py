"""Every CPU benchmark row, skyreels_jax against diffusers in the same run, as one markdown table.

    python -m benchmarks.run_all [--rows dit vae t2v df compile teacache] [--repeats 2]   (or: make bench)

Rows (each side of each row in its own process, so that its peak memory is its own):
- dit: a DiT forward at 1.3B width (dim 1536, 12 heads, ffn 8960, DF-1.3B config) cut to 4 layers,
  5×30×52 latent (1950 tokens), float32 and bfloat16 (benchmarks/dit_forward.py);
- vae: Wan VAE decode and encode, latent 3×16×16 ↔ 9×128×128 (benchmarks/bench_vae.py);
- t2v, df: tiny full pipelines (benchmarks/bench_pipelines.py);
- compile: compile time of the full 30-layer 1.3B DiT (benchmarks/compile_time.py);
- teacache: step caching on the tiny T2V pipeline with an 8-layer DiT (benchmarks/bench_teacache.py).
Times are warm (the best of --repeats after a first call); jax's compile is the first call minus a
warm one. Peak RSS is the process's high-water mark over the whole run (load, compile, runs); the
warm-call peak is the high-water mark of the timed calls alone, from the RSS after the first call
with freed heap returned to the OS (benchmarks/common.py).
torch uses as many threads as there are cores, as XLA's CPU client does.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
from pathlib import Path

HEADER = ("| row | diffusers (s) | skyreels_jax (s) | time ratio | jax compile (s) | peak RSS diffusers / ours (MiB) "
          "| memory ratio | warm-call peak diffusers / ours (MiB) | warm ratio | check |")


def _line(name, ref_s, ours_s, compile_s, ref_mib, ours_mib, ref_warm, ours_warm, check) -> str:
    return (f"| {name} | {ref_s:.2f} | {ours_s:.2f} | **{ours_s / ref_s:.2f}** | {compile_s:.1f} | {ref_mib:.0f} / "
            f"{ours_mib:.0f} | **{ours_mib / ref_mib:.2f}** | {ref_warm:.0f} / {ours_warm:.0f} | "
            f"{ours_warm / ref_warm:.2f} | {check} |")


def dit_rows(repeats: int, tmp: Path) -> list[str]:
    from benchmarks.dit_forward import compare

    lines = []
    for dtype in ("float32", "bfloat16"):
        r = compare("DF-1.3B-540P", 5, 30, 52, tmp, layers=4, dtype=dtype, repeats=repeats)
        ref, ours = r["reference"], r["ours"]
        lines.append(_line(f"DiT forward, 1.3B width, 4 layers, 5×30×52, {dtype}", ref["time_s"], ours["time_s"],
                           ours["first_s"] - ours["time_s"], ref["peak_mib"], ours["peak_mib"], ref["warm_peak_mib"],
                           ours["warm_peak_mib"], f"rel err {r['rel_err']:.1e}"))
    return lines


def vae_rows(repeats: int, tmp: Path) -> list[str]:
    import numpy as np

    from benchmarks.bench_vae import measure

    results = measure(3, 16, 16, repeats)
    lines = []
    for op in ("decode", "encode"):
        j, t = results["jax", op], results["torch", op]
        rel = np.linalg.norm(j["out"] - t["out"]) / np.linalg.norm(t["out"])
        lines.append(_line(f"VAE {op}, latent 3×16×16 (9×128×128 video)", t["time"], j["time"], j["first"] - j["time"],
                           t["peak_rss"], j["peak_rss"], t["warm_rss"], j["warm_rss"], f"rel err {rel:.1e}"))
    return lines


def pipeline_rows(rows: list[str], repeats: int, tmp: Path) -> list[str]:
    from benchmarks.bench_pipelines import ROWS, compare

    names = {"t2v": "tiny T2V pipeline, 4 steps, CFG, {num_frames}×{height}×{width}",
             "df": "tiny DF long video, 3 windows, 4 steps, CFG, {num_frames}×{height}×{width}"}
    lines = []
    for row in rows:
        r = compare(row, tmp / row, repeats)
        ref = r["reference"]
        check = f"frames differ by {r['mean_abs_255']:.4f}/255" if "mean_abs_255" in r else "–"
        for ours, how in ((r["ours"], ""), (r["ours_cached"], "; ours with a warm compilation cache")):
            lines.append(_line(names[row].format(**ROWS[row][1]) + how, ref["time_s"], ours["time_s"],
                               ours["first_s"] - ours["time_s"], ref["peak_mib"], ours["peak_mib"],
                               ref["warm_peak_mib"], ours["warm_peak_mib"], check))
    return lines


def compile_lines() -> list[str]:
    from benchmarks.common import run_child

    lines = ["", "| full 1.3B DiT (30 layers, scanned), abstract weights | tokens | trace + lower (s) | compile (s) "
                 "| peak RSS (MiB) |", "|---|---|---|---|---|"]
    for dtype, latent, batch in (("float32", (5, 30, 52), 1), ("bfloat16", (25, 68, 120), 2)):
        r = run_child("benchmarks.compile_time", "--dtype", dtype, "--latent", *latent, "--batch", batch)
        lines.append(f"| {dtype}, batch {batch}, latent {'×'.join(map(str, latent))} | {r['tokens']} | "
                     f"{r['lower_s']:.1f} | **{r['compile_s']:.1f}** | {r['peak_mib']:.0f} |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", nargs="+", default=["dit", "vae", "t2v", "df", "compile", "teacache"],
                   choices=["dit", "vae", "t2v", "df", "compile", "teacache"])
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args()
    load = os.getloadavg()
    print(f"{datetime.date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average at start {load[0]:.1f}")
    lines = [HEADER, "|---" * (HEADER.count("|") - 1) + "|"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "dit" in a.rows:
            lines += dit_rows(a.repeats, tmp)
        if "vae" in a.rows:
            lines += vae_rows(a.repeats, tmp)
        lines += pipeline_rows([r for r in ("t2v", "df") if r in a.rows], a.repeats, tmp)
        print("\n".join(lines), flush=True)
        if "compile" in a.rows:
            print("\n".join(compile_lines()), flush=True)
        if "teacache" in a.rows:
            from benchmarks.bench_teacache import report

            print("\n" + report(max(a.repeats, 3), dit="wider"))
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
