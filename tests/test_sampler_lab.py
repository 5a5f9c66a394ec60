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


def test_logits_round_trip_to_a_valid_schedule():
    from skyreels_jax.lab.search import from_logits, to_logits
    from skyreels_jax.schedulers import make_schedule, validate_sigmas

    sig = make_schedule("beta", 6, 3.0).sigmas.astype(np.float64)
    assert np.allclose(from_logits(to_logits(sig), sig[0]), sig, atol=1e-7)
    validate_sigmas(from_logits(np.random.default_rng(0).normal(size=6) * 3, 0.99))


def test_search_saves_a_schedule_that_generate_can_use(tmp_path, capsys):
    from skyreels_jax.pipelines import load_pipeline

    out = tmp_path / "search"
    assert main(["samplers", "search", "--scheduler", "euler", "--nfe", "3", "--seeds", "1", "--eval-seeds", "1",
                 "--iterations", "8", "--num-frames", "5", "--reference", "heun:4", "--out", str(out)]) == 0
    path = out / "toy_euler_nfe3.json"
    assert "| euler | 3 |" in (out / "search.md").read_text()
    z = load_pipeline("toy")("a red circle moves up on a black background", schedule=str(path), num_frames=5,
                             height=32, width=32, progress=False, output="latents")
    assert np.isfinite(z).all()


def test_df_mode_on_a_model_without_diffusion_forcing_is_refused_before_it_loads(tmp_path, capsys, monkeypatch):
    import pytest

    import skyreels_jax.pipelines as pipelines
    from tests.pipeline_fixtures import build_pipeline

    folder = build_pipeline("t2v", tmp_path / "pipe")[0]
    monkeypatch.setattr(pipelines, "load_pipeline", lambda *a, **k: pytest.fail("the model loaded"))
    argv = [*TINY, "--out", str(tmp_path / "sweep"), "--mode", "df"]
    argv[argv.index("toy")] = str(folder)
    assert main(argv) == 2
    assert "--mode df needs a diffusion-forcing model" in capsys.readouterr().err
