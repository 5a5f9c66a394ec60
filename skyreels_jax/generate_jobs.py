"""The videos a `generate` run makes: one request per video (what the sidecar records and what a rerun compares),
its output path, and whether an existing file there is that video already."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path

from skyreels_jax.media import check_video_path, sidecar_of


@dataclasses.dataclass(frozen=True)
class Job:
    prompt: str | list[str]
    output: Path
    request: dict  # JSON-ready: prompt, model, seed and every setting, the model's defaults filled in


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:60].lower() or "video"


def digest(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:8]


def file_id(path) -> dict | None:
    """An input file as a request names it: its path and a digest of its bytes (a changed file is a new request)."""
    if path is None:
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return {"path": str(path), "sha256": h.hexdigest()[:16]}


def read_prompts(path: Path) -> list[tuple[int, str]]:
    """(line number from 0, prompt) for every non-empty line of a prompt file."""
    if not path.is_file():
        raise FileNotFoundError(f"prompt file {path} does not exist" if not path.exists()
                                else f"prompt file {path} is not a file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"prompt file {path} is not UTF-8 text (one prompt per line)") from None
    prompts = [(i, line.strip()) for i, line in enumerate(lines) if line.strip()]
    if not prompts:
        raise ValueError(f"prompt file {path} has no prompts: write one prompt per line")
    return prompts


def normalise(request: dict) -> dict:
    """The request as it reads back from its JSON sidecar (tuples become lists), so the two compare equal."""
    return json.loads(json.dumps(request, default=str, allow_nan=False))


def make_jobs(prompt, prompts_file: Path | None, output: Path | None, output_dir: Path, request_of) -> list[Job]:
    """One Job per video. request_of(prompt) -> the request dict. A single video without --output is named after
    its prompt, seed and a digest of its request (so that two different requests never share a name); batch
    videos are numbered by prompt line in output_dir."""
    if (prompt is None) == (prompts_file is None):
        raise ValueError("give either --prompt or --prompts FILE")
    if prompt is not None:
        text = prompt[0] if len(prompt) == 1 else list(prompt)
        request = normalise(request_of(text))
        name = f"{slug(prompt[0])}-{request['seed']}-{digest(request)}.mp4"
        return [Job(text, check_video_path(output or output_dir / name), request)]
    if output is not None:
        raise ValueError("--output names one video: in batch mode (--prompts) give --output-dir")
    return [Job(p, check_video_path(output_dir / f"{i:05d}-{slug(p)}.mp4"), normalise(request_of(p)))
            for i, p in read_prompts(prompts_file)]


def output_state(job: Job) -> str:
    """"new" (nothing there), "same" (made by this very request), "different" (its sidecar records another
    request) or "unknown" (a file without a sidecar: not made by skyreels-jax, or its sidecar was removed)."""
    if not job.output.exists():
        return "new"
    side = sidecar_of(job.output)
    if not side.exists():
        return "unknown"
    try:
        recorded = json.loads(side.read_text()).get("request")
    except (ValueError, AttributeError):
        return "unknown"
    return "same" if recorded == job.request else "different"


def conflict_message(jobs: list[Job], batch: bool) -> str:
    """One line for outputs that exist with another request (or without a sidecar) and are kept."""
    names = ", ".join(str(j.output) for j in jobs[:3]) + (f" and {len(jobs) - 3} more" if len(jobs) > 3 else "")
    what = "exists" if len(jobs) == 1 else f"{len(jobs)} videos exist"
    return (f"{names} {what} but {'was' if len(jobs) == 1 else 'were'} not made with this request (its sidecar "
            "records another prompt, model, seed or setting, or there is none): give --overwrite to replace "
            f"{'it' if len(jobs) == 1 else 'them'}, or another {'--output-dir' if batch else '--output'}")
