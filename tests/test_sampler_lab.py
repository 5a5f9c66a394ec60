"""The sampler sweep on the toy model, on a tiny grid: CSV, markdown and plot, the reference cache."""
import numpy as np

from skyreels_jax.cli import main
from skyreels_jax.lab import report
from skyreels_jax.lab.sweep import steps_for

TINY = ["samplers", "sweep", "--model", "toy", "--schedulers", "euler,heun", "--schedules", "shift,karras",
        "--nfe", "2,3", "--seeds", "1", "--num-frames", "5", "--reference", "heun:4"]


def test_steps_for_counts_evaluations():
    assert steps_for("euler", "shift", 8, 3.0) == 8
    assert steps_for("heun", "shift", 8, 3.0) == 4  # 2 + 2 + 2 + 1 evaluations
    assert steps_for("heun", "karras", 1, 3.0) == 1


def test_sweep_writes_csv_markdown_and_plot(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main([*TINY, "--out", str(out)]) == 0
    rows = report.read_csv(out / "sweep.csv")
    assert len(rows) == 8 and {r["solver"] for r in rows} == {"euler", "heun"}
    assert all(np.isfinite(r["latent_rmse"]) and r["latent_rmse"] > 0 and r["adherence"] in (0.0, 1.0) for r in rows)
    assert {(r["solver"], r["nfe"], r["evaluations"]) for r in rows} >= {("heun", 2, 1), ("heun", 3, 3)}
    text = (out / "sweep.md").read_text()
    assert "| euler | shift |" in text and "NFE 3" in text and "toy adherence" in text
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    references = sorted((out / "reference").iterdir())
    assert len(references) == 1  # t2v mode: one reference per (model, prompt, seed), whatever the schedule
    stamp = references[0].stat().st_mtime_ns
    assert main([*TINY, "--out", str(out), "--mode", "df", "--nfe", "3"]) == 0
    assert references[0].stat().st_mtime_ns == stamp and len(list((out / "reference").iterdir())) == 3  # + per schedule
    assert "mode df" in capsys.readouterr().out


def test_bad_names_give_one_line(tmp_path, capsys):
    for flags, message in ((["--schedulers", "euler,nope"], "unknown scheduler"), (["--nfe", "4,x"], "--nfe"),
                           (["--reference", "heun"], "SOLVER:STEPS")):
        assert main([*TINY, *flags, "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, err
