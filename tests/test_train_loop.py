"""End to end: configs, the CLI, crash-and-resume reproducing an uninterrupted run, DPO margins."""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skyreels_jax.training import cli, synthetic
from skyreels_jax.training.checkpoint import Checkpointer
from skyreels_jax.training.loop import load_config, train, trained_params
from skyreels_jax.training.objectives import Objective
from skyreels_jax.training.step import make_eval_fn

CONFIGS = Path(__file__).parents[1] / "configs" / "train"


def _losses(workdir):
    lines = [json.loads(x) for x in (Path(workdir) / "metrics.jsonl").read_text().splitlines()]
    return [(x["step"], x["loss"], x["grad_norm"]) for x in lines]


def _cli(*argv):
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    return cli.run(parser.parse_args(["train", *argv]))


def test_configs_load_with_overrides():
    for name, objective in [("tiny_flow", "flow"), ("tiny_df", "diffusion_forcing"), ("tiny_dpo", "dpo")]:
        cfg = load_config(CONFIGS / f"{name}.py", {"optim.lr": 1e-4})
        assert cfg.objective == objective and cfg.optim.lr == 1e-4


def test_tiny_model_learns_the_synthetic_dataset_in_a_few_hundred_steps(tmp_path):
    cfg = load_config(CONFIGS / "tiny_flow.py", {"workdir": str(tmp_path), "total_steps": 300, "log_every": 1,
                                                 "checkpoint.every": 300, "seed": 0})
    out = train(cfg, verbose=False)
    losses = [loss for _, loss, _ in _losses(tmp_path)]
    first, last = np.mean(losses[:20]), np.mean(losses[-20:])
    print(f"flow loss over 300 steps (16 examples, batch 4): first 20 steps {first:.3f}, last 20 steps {last:.3f}")
    assert len(losses) == 300 and np.all(np.isfinite(losses)) and last < 0.6 * first
    ema = trained_params(out)
    assert ema is out["state"]["ema"]


def test_crash_and_resume_reproduces_the_uninterrupted_run(tmp_path, capsys):
    # diffusion forcing with EMA and gradient accumulation: every part of the state matters
    sets = {"total_steps": 6, "log_every": 1, "checkpoint.every": 3, "optim.ema_decay": 0.9,
            "optim.grad_accum": 2, "optim.warmup_steps": 2}
    cfg = load_config(CONFIGS / "tiny_df.py", {**sets, "workdir": str(tmp_path / "straight")})
    straight = train(cfg, verbose=False)["state"]

    args = [f"--set={k}={v}" for k, v in sets.items()] + ["--config", str(CONFIGS / "tiny_df.py"),
                                                           "--workdir", str(tmp_path / "crashed")]
    _cli(*args, "--stop-after", "4")          # checkpoint at 3, step 4 is lost in the "crash"
    ckpt_dir = tmp_path / "crashed" / "checkpoints"
    assert Checkpointer(ckpt_dir).all_steps() == [3]
    _cli(*args)                               # reruns: resumes from step 3 and finishes
    assert "resumed from step 3" in capsys.readouterr().out
    assert Checkpointer(ckpt_dir).all_steps() == [3, 6]

    resumed, meta = Checkpointer(ckpt_dir).restore(straight)
    assert meta["step"] == 6
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(straight), jax.tree.leaves(resumed)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=jax.tree_util.keystr(path))
    a, b = _losses(tmp_path / "straight"), _losses(tmp_path / "crashed")
    assert [s for s, *_ in b] == [1, 2, 3, 4, 5, 6] and a == b   # the same loss curve, exactly


def test_dpo_raises_the_reward_margin_on_held_out_pairs(tmp_path):
    cfg = load_config(CONFIGS / "tiny_dpo.py", {"workdir": str(tmp_path), "total_steps": 40, "log_every": 20,
                                                "dpo.ref_refresh_every": 0, "checkpoint.every": 40})
    out = train(cfg, verbose=False)
    held_out = [e for _, e in synthetic.preference_examples(8, seed=99)]
    batch = {k: jnp.asarray(np.stack([e[k] for e in held_out])) for k in ("chosen", "rejected")}
    batch["context"] = jnp.asarray(np.pad(np.stack([e["context"] for e in held_out]), ((0, 0), (0, 4), (0, 0))))
    batch["fps_ids"] = jnp.ones(8, jnp.int32)
    evaluate = make_eval_fn(out["graphdef"], out["rest"], Objective("dpo", beta=cfg.dpo.beta))
    state = out["state"]
    keys = [jax.random.PRNGKey(i) for i in range(4)]
    before = [float(evaluate(state["ref_params"], state["ref_params"], batch, k)["reward_margin"]) for k in keys]
    after = [evaluate(state["params"], state["ref_params"], batch, k) for k in keys]
    margin = np.mean([float(m["reward_margin"]) for m in after])
    accuracy = np.mean([float(m["reward_accuracy"]) for m in after])
    print(f"held-out reward margin: {np.mean(before):.3f} -> {margin:.3f}, accuracy {accuracy:.2f}")
    assert before == [0.0] * 4 and margin > 0.5 and accuracy > 0.7


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_matches_the_uninterrupted_run(tmp_path):
    """A real crash: the training process is SIGKILLed mid-run, then rerun in a new process."""
    sets = ["--set=total_steps=40", "--set=log_every=1", "--set=checkpoint.every=5", "--set=optim.ema_decay=0.9"]
    code = ("import argparse,sys; from skyreels_jax.training import cli; p=argparse.ArgumentParser(); "
            "cli.add_parser(p.add_subparsers()); sys.exit(cli.run(p.parse_args(sys.argv[1:])))")

    def command(workdir):
        return [sys.executable, "-c", code, "train", "--config", str(CONFIGS / "tiny_df.py"),
                "--workdir", str(workdir), *sets]

    root = Path(__file__).parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run(command(tmp_path / "straight"), check=True, cwd=root, env=env, capture_output=True)
    proc = subprocess.Popen(command(tmp_path / "killed"), cwd=root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    metrics = tmp_path / "killed" / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and (not metrics.exists() or len(metrics.read_text().splitlines()) < 17):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = len(metrics.read_text().splitlines())
    assert 17 <= killed_at < 40
    subprocess.run(command(tmp_path / "killed"), check=True, cwd=root, env=env, capture_output=True)
    print(f"killed after step {killed_at}, resumed from step {5 * (killed_at // 5)}")
    assert _losses(tmp_path / "killed") == _losses(tmp_path / "straight")


@pytest.mark.slow
def test_sharded_train_steps_match_one_device():
    root = Path(__file__).parents[1]
    result = subprocess.run([sys.executable, "-m", "tests.train_sharded_check"], cwd=root, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(root)}, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    print(result.stdout.strip().splitlines()[-1])


def test_image_to_video_training_runs_and_its_loss_falls(tmp_path):
    cfg = load_config(CONFIGS / "tiny_i2v.py", {"workdir": str(tmp_path), "total_steps": 80, "log_every": 1,
                                                "checkpoint.every": 80})
    train(cfg, verbose=False)
    losses = [loss for _, loss, _ in _losses(tmp_path)]
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    print(f"I2V flow loss: first 10 steps {first:.3f}, last 10 steps {last:.3f}")
    assert np.all(np.isfinite(losses)) and first / last > 1.5


def test_lora_run_resumes_and_merges(tmp_path):
    sets = {"total_steps": 6, "log_every": 1, "checkpoint.every": 3, "lora.rank": 4, "lora.alpha": 8.0,
            "optim.lr": 1e-2}
    straight = train(load_config(CONFIGS / "tiny_flow.py", {**sets, "workdir": str(tmp_path / "a")}), verbose=False)
    cfg = load_config(CONFIGS / "tiny_flow.py", {**sets, "workdir": str(tmp_path / "b")})
    train(cfg, stop_after=4, verbose=False)
    resumed = train(cfg, verbose=False)
    assert _losses(tmp_path / "a") == _losses(tmp_path / "b")
    again = train(cfg, stop_after=4, verbose=False)  # resumed past its stop: no step, the saved state
    assert _losses(tmp_path / "b") == _losses(tmp_path / "a")
    assert jax.tree.all(jax.tree.map(np.array_equal, again["state"]["params"], resumed["state"]["params"]))
    saved, _ = Checkpointer(tmp_path / "b" / "checkpoints").restore({k: v for k, v in straight["state"].items()
                                                                     if k != "base"})
    assert "base" not in saved and resumed["lora_scale"] == 2.0
    full = trained_params(resumed)
    base = dict(jax.tree_util.tree_leaves_with_path(resumed["state"]["base"]))
    changed = [jax.tree_util.keystr(k) for k, v in jax.tree_util.tree_leaves_with_path(full)
               if not np.array_equal(v, base[k])]
    assert changed and all("kernel" in k and ("attn" in k or "ffn" in k) for k in changed)
