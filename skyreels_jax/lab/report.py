"""The sweep's outputs: a CSV of every run, a markdown table of the means over seeds, a plot of error vs NFE."""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

COLUMNS = ("solver", "schedule", "nfe", "evaluations", "steps", "forwards", "seed", "prompt", "latent_rmse",
           "frame_psnr", "adherence", "reference_adherence", "seconds")


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows({k: ("" if r[k] is None else r[k]) for k in COLUMNS} for r in rows)


def read_csv(path: Path) -> list[dict]:
    def value(k, v):
        if k in ("solver", "schedule", "prompt"):
            return v
        return None if v == "" else (int(v) if k in ("nfe", "evaluations", "steps", "forwards", "seed") else float(v))
    with open(path, newline="") as f:
        return [{k: value(k, v) for k, v in row.items()} for row in csv.DictReader(f)]


def summary(rows: list[dict]) -> dict:
    """{(solver, schedule, nfe): means over seeds of evaluations, latent RMSE, frame PSNR, adherence}."""
    groups = defaultdict(list)
    for r in rows:
        groups[r["solver"], r["schedule"], r["nfe"]].append(r)
    def mean(rs, k):
        values = [r[k] for r in rs if r[k] is not None]
        return float(np.mean(values)) if values else None
    return {key: {k: mean(rs, k) for k in ("evaluations", "latent_rmse", "frame_psnr", "adherence",
                                           "reference_adherence")} | {"seeds": len(rs)}
            for key, rs in groups.items()}


def markdown(rows: list[dict]) -> str:
    """Tables of the mean latent RMSE, frame PSNR and (toy) adherence: a row per (solver, schedule),
    a column per NFE; the best RMSE of each column in bold."""
    s = summary(rows)
    nfes = sorted({k[2] for k in s})
    pairs = list(dict.fromkeys((k[0], k[1]) for k in s))
    seeds = max(v["seeds"] for v in s.values())
    out = []
    for metric, title, fmt, best in (("latent_rmse", "latent RMSE against the reference (lower is better)",
                                      "{:.4f}", min),
                                     ("frame_psnr", "frame PSNR against the reference, dB (higher is better)",
                                      "{:.1f}", max),
                                     ("adherence", "toy adherence (captioned colour, shape and motion)", "{:.0%}",
                                      None)):
        if all(v[metric] is None for v in s.values()):
            continue
        out += [f"**{title}**, mean over {seeds} seeds; NFE = solver evaluations (Heun: 2 per step but the last)", "",
                "| solver | schedule | " + " | ".join(f"NFE {n}" for n in nfes) + " |",
                "|---|---|" + "---|" * len(nfes)]
        tops = {n: best(v[metric] for k, v in s.items() if k[2] == n) for n in nfes} if best else {}
        for solver, schedule in pairs:
            cells = []
            for n in nfes:
                v = s.get((solver, schedule, n), {}).get(metric)
                text = "" if v is None else fmt.format(v)
                cells.append(f"**{text}**" if best and v is not None and v == tops[n] else text)
            out.append(f"| {solver} | {schedule} | " + " | ".join(cells) + " |")
        ref = [v["reference_adherence"] for v in s.values() if v["reference_adherence"] is not None]
        if metric == "adherence" and ref:
            out.append(f"\nThe reference's own adherence: {np.mean(ref):.0%}.")
        out.append("")
    return "\n".join(out)


def plot(path: Path, rows: list[dict], title: str = "") -> bool:
    """Latent RMSE vs evaluations, log-log, one panel per schedule and a line per solver. False
    (and no file) without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = summary(rows)
    schedules = list(dict.fromkeys(k[1] for k in s))
    solvers = list(dict.fromkeys(k[0] for k in s))
    ticks = sorted({k[2] for k in s})
    colours = plt.get_cmap("tab20").colors
    fig, axes = plt.subplots(1, len(schedules), figsize=(3.6 * len(schedules) + 1.6, 3.8), sharey=True, squeeze=False)
    for ax, schedule in zip(axes[0], schedules):
        for i, solver in enumerate(solvers):
            points = sorted((v["evaluations"], v["latent_rmse"]) for k, v in s.items() if k[:2] == (solver, schedule))
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, color=colours[(2 * i) % 20 + (i >= 10)],
                        linestyle="-" if i < 10 else "--", label=solver)
        ax.set(xscale="log", yscale="log", title=schedule, xlabel="NFE (solver evaluations)")
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("latent RMSE vs reference")
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_all(out: Path, rows: list[dict], title: str = "", header: str = "") -> dict:
    """sweep.csv, sweep.md and sweep.png (when matplotlib is there) in out; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "sweep.csv", "markdown": out / "sweep.md", "plot": out / "sweep.png"}
    write_csv(paths["csv"], rows)
    paths["markdown"].write_text((header + "\n\n" if header else "") + markdown(rows))
    if not plot(paths["plot"], rows, title):
        paths.pop("plot")
    return paths
