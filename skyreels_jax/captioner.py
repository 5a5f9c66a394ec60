"""SkyCaptioner-V1: structured JSON captions of videos, and their fusion into T2V / I2V prompts.

As the reference (`skycaptioner_v1/scripts/vllm_struct_caption.py`, `vllm_fusion_caption.py`):
16 frames sampled uniformly (its get_index) and resized to 360 wide × 420 high (its decord
reader), a video message with max_pixels 360·420 at fps 2.0 followed by STRUCT_PROMPT, sampling
at temperature 0.05 with up to 2048 new tokens. Fusion cleans the JSON (clean_for_fusion), asks
a language model with FUSION_T2V / FUSION_I2V at temperature 0.1 for up to 512 tokens, cuts the
answer at the first blank line (the reference's stop "\\n\\n"), and appends the camera-motion sentence.

Unlike the reference, the model's JSON is checked (parse_caption): fences and chatter around the
object are dropped, missing text fields become "", shot fields outside their options become
"other"; text that holds no JSON object is retried with the next seed, and after the last try
raises CaptionError, which caption_folder records per video without stopping the batch.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Callable

import numpy as np

PROMPTS = Path(__file__).parent / "assets" / "prompts"   # the reference's templates, verbatim
STRUCT_PROMPT = (PROMPTS / "captioner_struct.txt").read_text(encoding="utf-8")
FUSION_I2V = (PROMPTS / "captioner_fusion_i2v.txt").read_text(encoding="utf-8")  # {structured_input} is filled in
FUSION_T2V = (PROMPTS / "captioner_fusion_t2v.txt").read_text(encoding="utf-8")

OPTIONS = {
    "shot_type": ("long_shot", "full_shot", "medium_shot", "close_up", "extreme_close_up", "other"),
    "shot_angle": ("eye_level", "high_angle", "low_angle", "other"),
    "shot_position": ("front_view", "back_view", "side_view", "over_the_shoulder", "overhead_view", "point_of_view",
                      "aerial_view", "overlooking_view", "other"),
}
TEXT_FIELDS = ("camera_motion", "environment", "lighting")
SUBJECT_FIELDS = ("appearance", "action", "expression", "position")
NUM_FRAMES, FRAME_HEIGHT, FRAME_WIDTH = 16, 420, 360
MAX_PIXELS, FPS = 360 * 420, 2.0
TextFn = Callable[[list, int], str]  # (chat messages, seed) -> generated text


class CaptionError(ValueError):
    """The model's output is not a structured caption; `raw` holds the last text it produced."""

    def __init__(self, message: str, raw: str = ""):
        super().__init__(message)
        self.raw = raw


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value).strip())


def parse_caption(text: str) -> dict:
    """The structured caption in `text`, checked and repaired (see the module docstring); CaptionError if none."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise CaptionError("the model's output holds no JSON object", text)
    try:
        raw = json.loads(text[start:end + 1])
    except json.JSONDecodeError as e:
        raise CaptionError(f"the model's output is not valid JSON ({e})", text) from None
    if not isinstance(raw.get("subjects", []), list):
        raise CaptionError("'subjects' is not a list", text)
    subjects = []
    for s in raw.get("subjects", []):
        if not isinstance(s, dict):
            raise CaptionError("a subject is not an object", text)
        types = s.get("TYPES") if isinstance(s.get("TYPES"), dict) else {}
        subjects.append({**{k: _text(s.get(k)) for k in SUBJECT_FIELDS},
                         "TYPES": {"type": _text(types.get("type")), "sub_type": _text(types.get("sub_type"))},
                         "is_main_subject": bool(s.get("is_main_subject", False))})
    caption = {"subjects": subjects}
    for field, options in OPTIONS.items():
        value = _text(raw.get(field)).lower().replace(" ", "_").replace("-", "_")
        caption[field] = value if value in options else "other"
    caption.update({k: _text(raw.get(k)) for k in TEXT_FIELDS})
    return caption


def clean_for_fusion(caption: dict, task: str, rng: random.Random) -> dict:
    """The reference's clean_struct_caption: subject names from sub_type, expression only for Human/Animal
    (not Human/Accessory), appearance and position each dropped with p=0.1; i2v keeps name, action and
    expression of subjects that act or emote and no scene fields; t2v drops lighting with p=0.1."""
    if task not in ("t2v", "i2v"):
        raise ValueError(f"task must be 't2v' or 'i2v', got {task!r}")
    subjects = []
    for raw in caption.get("subjects", []):
        s = {k: v for k, v in raw.items() if k not in ("TYPES", "is_main_subject")}
        kind, sub = raw.get("TYPES", {}).get("type", ""), raw.get("TYPES", {}).get("sub_type", "")
        if kind not in ("Human", "Animal") or (kind == "Human" and sub == "Accessory"):
            s["expression"] = ""
        if sub:
            s["name"] = sub
        s["action"] = s.get("action", "").strip()
        for key in ("appearance", "position"):
            if rng.random() > 0.9:
                s.pop(key, None)
        if task == "i2v":
            s.pop("appearance", None)
            s.pop("position", None)
            if not s["action"] and not s.get("expression"):
                continue
        subjects.append(s)
    out = {"num_subjects": len(subjects), "subjects": subjects,
           **{k: caption.get(k, "") for k in ("shot_type", "shot_angle", "shot_position", "environment", "lighting")}}
    if task == "t2v" and rng.random() > 0.9:
        del out["lighting"]
    if task == "i2v":
        for key in ("environment", "lighting", "shot_type", "shot_angle", "shot_position"):
            del out[key]
    return out


def camera_sentence(caption: dict) -> str:
    """The camera motion as the reference appends it: a final period, then str.capitalize()."""
    motion = caption.get("camera_motion", "")
    return (motion + "." if motion else "").capitalize()


def fuse(caption: dict, task: str, fusion_fn: TextFn, seed: int = 0) -> str:
    """The T2V or I2V prompt for a structured caption: the language model's composition + the camera sentence.

    With no subject left after cleaning, the prompt is the camera sentence alone (the reference
    writes a "-" placeholder before it)."""
    cleaned = clean_for_fusion(json.loads(json.dumps(caption)), task, random.Random(seed))
    camera = camera_sentence(caption)
    if not cleaned["num_subjects"]:
        return camera
    template = FUSION_T2V if task == "t2v" else FUSION_I2V
    messages = [{"role": "system", "content": template.format(
        structured_input=json.dumps(cleaned, indent=4, ensure_ascii=False))}]
    text = fusion_fn(messages, seed).split("\n\n")[0].strip()
    return f"{text} {camera}".strip()


def sample_frame_indices(total: int, num_frames: int = NUM_FRAMES) -> list[int]:
    """The reference's get_index: num_frames indices round(i·(total-1)/num_frames), clipped to the last frame."""
    if total < 1:
        raise ValueError("the video has no frames")
    step = max(0.0, (total - 1) / num_frames)
    return [min(int(np.round(step * i)), total - 1) for i in range(num_frames)]


def video_frames(video, num_frames: int = NUM_FRAMES, height: int = FRAME_HEIGHT, width: int = FRAME_WIDTH):
    """uint8 [num_frames, height, width, 3]: the sampled frames of a path or a uint8 [F, H, W, 3] array, resized
    (bilinear; the reference's decord reader scales with ffmpeg) to the reference's 420 high × 360 wide."""
    from PIL import Image

    from skyreels_jax.media import read_video

    frames = read_video(video) if isinstance(video, (str, Path)) else np.asarray(video)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"a video must be uint8 [frames, height, width, 3], got shape {frames.shape}")
    picked = frames[sample_frame_indices(len(frames), num_frames)]
    return np.stack([np.asarray(Image.fromarray(f).resize((width, height), Image.BILINEAR)) for f in picked])


def struct_messages(max_pixels: int = MAX_PIXELS, fps: float = FPS) -> list[dict]:
    """The reference's conversation: the video, then STRUCT_PROMPT, in one user message."""
    return [{"role": "user", "content": [{"type": "video", "max_pixels": max_pixels, "fps": fps},
                                         {"type": "text", "text": STRUCT_PROMPT}]}]


class Captioner:
    """caption(video) -> checked structured caption; prompt(caption, task) -> fused prompt.

    struct_fn(frames uint8 [F, H, W, 3], seed) -> text, and fusion_fn(messages, seed) -> text, are the
    models (load_captioner builds them; tests pass stubs). `retries` more seeds are tried when the
    model's text holds no caption.
    """

    def __init__(self, struct_fn: Callable[[np.ndarray, int], str], fusion_fn: TextFn | None = None, *,
                 retries: int = 2, num_frames: int = NUM_FRAMES, frame_size=(FRAME_HEIGHT, FRAME_WIDTH),
                 close: Callable[[], None] | None = None):
        self.struct_fn, self.fusion_fn, self.retries = struct_fn, fusion_fn, retries
        self.num_frames, self.frame_size, self._close = num_frames, tuple(frame_size), close

    def caption(self, video, seed: int = 0) -> dict:
        frames = video_frames(video, self.num_frames, *self.frame_size)
        error = None
        for attempt in range(self.retries + 1):
            try:
                return parse_caption(self.struct_fn(frames, seed + attempt))
            except CaptionError as e:
                error = e
        raise CaptionError(f"no valid structured caption after {self.retries + 1} tries: {error}", error.raw)

    def prompt(self, caption: dict, task: str = "t2v", seed: int = 0) -> str:
        if self.fusion_fn is None:
            raise RuntimeError("this Captioner has no fusion model: load it with fusion=True")
        return fuse(caption, task, self.fusion_fn, seed)

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def done_paths(jsonl: Path) -> set[str]:
    """Videos that already have a caption in a JSONL file (error records and a torn last line are retried)."""
    if not jsonl.exists():
        return set()
    done = set()
    for line in jsonl.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "structural_caption" in record:
            done.add(record.get("path"))
    return done


def caption_folder(videos: list, out: Path, captioner: Captioner, tasks=("t2v",), seed: int = 0,
                   log=print) -> dict:
    """Caption each video not yet in `out` (JSONL, one record per line, appended and flushed as it goes).

    A record is {"path", "structural_caption", "<task>_fusion_caption"...}, or {"path", "error", "raw"}
    when the model gave no caption or the video could not be read. Returns counts: done, skipped, failed.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    skip = done_paths(out)
    counts = {"done": 0, "skipped": 0, "failed": 0}
    with out.open("a") as f:
        for video in videos:
            path = str(video)
            if path in skip:
                counts["skipped"] += 1
                continue
            try:
                caption = captioner.caption(video, seed)
                record = {"path": path, "structural_caption": caption}
                for task in tasks:
                    record[f"{task}_fusion_caption"] = captioner.prompt(caption, task, seed)
                counts["done"] += 1
            except (CaptionError, OSError, ValueError) as e:
                record = {"path": path, "error": f"{type(e).__name__}: {e}", "raw": getattr(e, "raw", "")}
                counts["failed"] += 1
                log(f"{path}: {record['error']}")
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
    return counts


VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")


def list_videos(inputs: list) -> list[Path]:
    """The videos named, folders expanded to their video files (sorted), in the order given."""
    videos = []
    for item in map(Path, inputs):
        if item.is_dir():
            videos += sorted(p for p in item.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        elif item.exists():
            videos.append(item)
        else:
            raise FileNotFoundError(f"{item} does not exist")
    return videos


def _decode(tokenizer, row, stop) -> str:
    ends = np.flatnonzero(np.isin(row, stop))
    return tokenizer.decode(row[:ends[0] if ends.size else None].tolist(), skip_special_tokens=True).strip()


def _stops(tokenizer, folder: Path) -> list[int]:
    cfg = json.loads((folder / "config.json").read_text())
    eos = cfg.get("eos_token_id", (cfg.get("text_config") or {}).get("eos_token_id"))
    ids = {tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.eos_token_id,
           *(eos if isinstance(eos, list) else [eos])}
    return sorted(i for i in ids if isinstance(i, int) and i >= 0)


def load_captioner(path, fusion_path=None, dtype=None, *, greedy: bool = False, max_new_tokens: int = 2048,
                   fusion_max_new_tokens: int = 512, max_pixels: int = MAX_PIXELS, num_frames: int = NUM_FRAMES,
                   frame_size=(FRAME_HEIGHT, FRAME_WIDTH), retries: int = 2) -> Captioner:
    """A Captioner from a local Qwen2.5-VL folder (SkyCaptioner-V1). Fusion runs on the Qwen2.5 folder
    `fusion_path` (the reference uses Qwen2.5-32B-Instruct) or, when None, on the captioner's own LM.
    dtype defaults to bfloat16 on accelerators and float32 on CPU. Call close() to free the weights."""
    import jax
    import jax.numpy as jnp
    from transformers import AutoTokenizer

    from skyreels_jax.models.qwen2.generate import Sampling, generate, left_pad
    from skyreels_jax.models.qwen2_5_vl import generate as vl
    from skyreels_jax.models.qwen2_5_vl.inputs import expand_placeholders, preprocess
    from skyreels_jax.models.qwen2_5_vl.loader import load_qwen2_5_vl
    from skyreels_jax.nn.jit import free

    folder = Path(path)
    dtype = dtype or (jnp.float32 if jax.default_backend() == "cpu" else jnp.bfloat16)
    model = load_qwen2_5_vl(folder, dtype)
    tok = AutoTokenizer.from_pretrained(str(folder))
    stop, pad = _stops(tok, folder), tok.pad_token_id or 0
    pick = lambda t: Sampling() if greedy else Sampling(greedy=False, temperature=t)  # noqa: E731

    def struct_fn(frames, seed):
        v = model.config.vision
        patches, grid = preprocess(frames, 28 * 28, max_pixels, v.patch_size, v.merge_size, v.temporal_patch_size)
        text = tok.apply_chat_template(struct_messages(max_pixels), tokenize=False, add_generation_prompt=True)
        ids = tok(expand_placeholders(text, "<|video_pad|>", [grid], v.merge_size), add_special_tokens=False).input_ids
        vision = vl.VisionInputs(pixel_values_videos=patches, video_grid_thw=np.array([grid]),
                                 second_per_grid_ts=[v.temporal_patch_size / FPS])
        out = vl.generate(model, [ids], [[1] * len(ids)], vision, max_new_tokens=max_new_tokens, stop_tokens=stop,
                          pad_id=pad, sampling=pick(0.05), seed=seed)
        return _decode(tok, out[0], stop)

    fusion_model = fusion_tok = None
    if fusion_path is not None:
        from skyreels_jax.models.qwen2.loader import load_qwen2

        fusion_model, fusion_tok = load_qwen2(fusion_path, dtype), AutoTokenizer.from_pretrained(str(fusion_path))
        fusion_stop = _stops(fusion_tok, Path(fusion_path))

    def fusion_fn(messages, seed):
        t = fusion_tok or tok
        ids = t(t.apply_chat_template(messages, tokenize=False, add_generation_prompt=True),
                add_special_tokens=False).input_ids
        padded, mask = left_pad([ids], len(ids), pad)
        if fusion_model is None:
            out = vl.generate(model, padded, mask, max_new_tokens=fusion_max_new_tokens, stop_tokens=stop,
                              pad_id=pad, sampling=pick(0.1), seed=seed)
            return _decode(t, out[0], stop)
        out = generate(fusion_model, padded, mask, max_new_tokens=fusion_max_new_tokens, stop_tokens=fusion_stop,
                       pad_id=pad, sampling=pick(0.1), seed=seed)
        return _decode(t, out[0], fusion_stop)

    def close():
        for m in (model, fusion_model):
            if m is not None:
                free(m)

    return Captioner(struct_fn, fusion_fn, retries=retries, num_frames=num_frames, frame_size=frame_size,
                     close=close)
