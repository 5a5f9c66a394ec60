"""A fuzz test of `generate` and of the pipeline call, with the embedded toy model at its own tiny size.

Over arguments drawn from good values and hostile ones (zero, negatives, 2^70, nan, inf, text, wrong suffixes,
empty prompts), each run either succeeds with a video whose frames, size and fps are the request's and a
sidecar that records it, or exits 2 with one line before any model loads or any sampling starts, leaving no
file. `pytest tests/test_fuzz_cli.py -s` prints how many examples of each kind ran."""
import collections
import json
import math
import shutil
import tempfile
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import skyreels_jax.pipelines as pipelines
from skyreels_jax.media import read_video
from skyreels_jax.pipelines import diffusion_forcing
from tests.toy_runs import PROMPT, generate

TOY = dict(num_frames=17, height=32, width=32, num_steps=20, guidance_scale=3.0, shift=3.0, fps=24, seed=0,
           base_num_frames=17, ar_step=0)
FLAGS = {  # flag: (request key, good values, hostile values); good ones keep to two compiled shapes
    "--num-frames": ("num_frames", [5], [0, -1, 10, 2**70, "abc", "5.0"]),
    "--height": ("height", [32], [0, 12, -32, 5000, "nan"]),
    "--width": ("width", [32], [0, 20, 2**70]),
    "--steps": ("num_steps", [1, 2], [0, -2, 1001, 2**70, "two"]),
    "--guidance-scale": ("guidance_scale", [1.5, 3.0], ["nan", "inf", "-1", "101", "x"]),
    "--shift": ("shift", [1.0, 3.0], ["0", "nan", "-inf", "-2"]),
    "--seed": ("seed", [7, 2**32 - 1], [-1, 2**32, 2**70, "s"]),
    "--fps": ("fps", [8, 24], [0, -1, 241, "nan"]),
    "--base-num-frames": ("base_num_frames", [], [0, -3, "b"]),
    "--ar-step": ("ar_step", [0], [-1, 1001]),
}
OUTPUTS = (["v.mp4", "v.mkv", "v.mov"], ["v.gif", "v", "file.txt/v.mp4", "."])
PROMPTS = ([PROMPT], ["", "   "])
STATS = collections.Counter()


# given every time: left out, the toy's own 20 steps would slow the test down
ALWAYS = ("--steps", "num_steps", "--output", "--prompt")


def drawn_values(table: dict):
    """{name: (value, whether it is hostile)}: none, one or two hostile values, the others good or left out."""
    @st.composite
    def draw_all(draw):
        names = list(table)
        hostile = set(draw(st.permutations(names))[:draw(st.sampled_from([0, 0, 1, 1, 1, 2]))])
        values = {}
        for name in names:
            good, bad = table[name]
            if name in hostile:
                values[name] = (draw(st.sampled_from(bad)), True)
            else:
                values[name] = (draw(st.sampled_from(good if name in ALWAYS else [None, *good])), False)
        return values
    return draw_all()


ARGS = drawn_values({**{flag: (good, bad) for flag, (_, good, bad) in FLAGS.items()},
                     "--output": OUTPUTS, "--prompt": PROMPTS})


@pytest.fixture(scope="module")
def counted(tmp_path_factory):
    """The toy pipeline loaded once, with counters of model loads and of sampling runs."""
    counts = collections.Counter()
    pipe = pipelines.load_pipeline("toy")
    sample = diffusion_forcing.generate

    def load(*args, **kwargs):
        counts["loads"] += 1
        return pipe

    def counting_sample(*args, **kwargs):
        counts["samplings"] += 1
        return sample(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipelines, "load_pipeline", load)
        mp.setattr(diffusion_forcing, "generate", counting_sample)
        yield pipe, counts
    print(f"\nfuzz figures: {dict(sorted(STATS.items()))}")


FUZZ = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(drawn=ARGS)
@example(drawn={**{f: (None, False) for f in FLAGS}, "--output": ("v.mp4", False), "--prompt": (PROMPT, False),
                "--num-frames": (5, False), "--steps": (1, False), "--fps": (8, False)})
def test_generate_succeeds_or_refuses_in_one_line(counted, capsys, drawn):
    pipe, counts = counted
    work = Path(tempfile.mkdtemp())
    try:
        (work / "file.txt").write_text("a file, not a folder")
        out = work / "out" / (drawn["--output"][0] or "v.mp4")
        argv = ["--model", "toy", "--prompt", drawn["--prompt"][0] or PROMPT, "--output", out]
        for flag in FLAGS:
            if drawn[flag][0] is not None:
                argv += [flag, drawn[flag][0]]
        hostile = any(bad for _, bad in drawn.values())
        before = counts.copy()
        if drawn["--output"][0] == "file.txt/v.mp4":
            out = work / "file.txt" / "v.mp4"
            argv[argv.index("--output") + 1] = out
        code, _, err = generate(capsys, *argv)
        if code == 0:
            STATS["cli: made"] += 1
            assert not hostile, f"accepted {drawn}"
            expected = {**TOY, **{FLAGS[f][0]: float(v) if isinstance(TOY[FLAGS[f][0]], float) else v
                                  for f, (v, _) in drawn.items() if f in FLAGS and v is not None}}
            video = read_video(out)
            assert video.shape == (expected["num_frames"], expected["height"], expected["width"], 3)
            with av.open(str(out)) as c:
                assert c.streams.video[0].average_rate == expected["fps"]
            request = json.loads(out.with_name(out.name + ".json").read_text())["request"]
            assert {k: request[k] for k in TOY} == expected
        else:
            STATS["cli: refused"] += 1
            assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error: "), err
            assert hostile, f"refused a good request {drawn}: {err}"
            assert counts == before, "a model loaded or sampling ran for a refused request"
            assert not (work / "out").exists() and sorted(p.name for p in work.iterdir()) == ["file.txt"]
            STATS[f"cli: refused with {sum(bad for _, bad in drawn.values())} hostile value(s)"] += 1
    finally:
        shutil.rmtree(work)


API_VALUES = {  # keyword: good values (two compiled shapes at most), hostile values of every type
    "num_frames": ([5], [0, -3, 9.0, True, "5", 2**70]),
    "height": ([32], [0, 24.5, 12, np.nan]),
    "num_steps": ([1, 2], [0, -1, 1.5, 10**6]),
    "guidance_scale": ([2.0], [math.nan, math.inf, -0.5, "3"]),
    "shift": ([2.0], [0.0, -math.inf, "2"]),
    "seed": ([3, np.int64(5)], [-1, 2**64, 1.0, np.float32(2)]),
    "fps": ([16], [0, 24.0, -5]),
    "teacache_threshold": ([], [0.1]),
}


@FUZZ
@given(drawn=drawn_values(API_VALUES))
def test_pipeline_call_succeeds_or_raises_value_error(counted, drawn):
    pipe, counts = counted
    kwargs = {k: v for k, (v, _) in drawn.items() if v is not None}
    hostile = any(bad for _, bad in drawn.values())
    before = counts.copy()
    try:
        video = pipe(PROMPT, progress=False, **kwargs)
    except ValueError:
        STATS["api: refused"] += 1
        assert hostile, f"refused good values {kwargs}"
        assert counts == before, "sampling ran for refused values"
        return
    STATS["api: made"] += 1
    assert not hostile, f"accepted {kwargs}"
    assert video.shape == (kwargs.get("num_frames", 17), kwargs.get("height", 32), 32, 3)
    assert pipe.stats["call"]["seed"] == int(kwargs.get("seed", 0))
