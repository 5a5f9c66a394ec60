"""What a model folder holds: its layout, its mode, where each component is, and its defaults."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from etils import epath

from skyreels_jax.checkpoints.converted import is_converted, read_manifest
from skyreels_jax.hub import is_remote
from skyreels_jax.models.dit.loader import DiTCheckpoint

MODES = ("text_to_video", "image_to_video", "first_last_frame", "diffusion_forcing")

# The reference CLIs' negative prompts: generate_video.py (T2V/I2V) is English,
# generate_video_df.py (diffusion forcing) uses the Chinese Wan default.
NEGATIVE_PROMPT = ("Bright tones, overexposed, static, blurred details, subtitles, style, works, paintings, images, "
                   "static, overall gray, worst quality, low quality, JPEG compression residue, ugly, incomplete, "
                   "extra fingers, poorly drawn hands, poorly drawn faces, deformed, disfigured, misshapen limbs, "
                   "fused fingers, still picture, messy background, three legs, many people in the background, "
                   "walking backwards")
NEGATIVE_PROMPT_DF = ("色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，"
                      "整体发灰，最差质量，低质量，"
                      "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，"
                      "形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走")

# guidance_scale, shift per mode (the reference CLIs'); 30 steps everywhere
DEFAULTS = {
    "text_to_video": dict(guidance_scale=6.0, shift=8.0),
    "image_to_video": dict(guidance_scale=5.0, shift=5.0),
    "first_last_frame": dict(guidance_scale=5.0, shift=5.0),
    "diffusion_forcing": dict(guidance_scale=6.0, shift=8.0),
}
# size and length per published resolution (the reference CLIs'); a folder's generation_defaults.json wins
RESOLUTION_DEFAULTS = {
    "540P": dict(height=544, width=960, num_frames=97, base_num_frames=97),
    "720P": dict(height=720, width=1280, num_frames=121, base_num_frames=121),
}
GENERATION_DEFAULTS = "generation_defaults.json"  # a folder's own defaults (the embedded toy model has one)
DEFAULT_KEYS = ("height", "width", "num_frames", "base_num_frames", "num_steps", "guidance_scale", "shift",
                "scheduler")   # scheduler: a distilled model's own solver (the toy-fast's "lcm")


@dataclasses.dataclass(frozen=True)
class ModelFolder:
    root: Path                  # an epath.Path for a converted checkpoint on a bucket (gs://...)
    layout: str                 # "diffusers" or "original"
    mode: str                   # one of MODES
    transformer: Path
    vae: Path
    text_encoder: Path
    image_encoder: Path | None  # only image-to-video and first/last-frame models
    defaults: dict              # guidance_scale, shift, num_steps, negative_prompt, height, width, num_frames,
                                # base_num_frames

    @property
    def name(self) -> str:
        return self.root.name


def _diffusion_forcing_hint(root: Path, dit: DiTCheckpoint, pipeline_class: str) -> bool:
    if pipeline_class:
        return "DiffusionForcing" in pipeline_class
    # original repos carry a dummy key naming the model, e.g. model_type.SkyReels-V2-DF-14B-540P
    names = [k for k in dit.source.keys() if k.startswith("model_type.")] + [root.name]
    return any("-DF-" in n or n.endswith("-DF") for n in names) or dit.config.inject_sample_info


def inspect_folder(root: str | Path) -> ModelFolder:
    """Find the components of a diffusers pipeline folder, an original SkyReels-V2 repository,
    or a converted checkpoint (local or remote, e.g. gs://)."""
    if is_remote(root):
        root = epath.Path(str(root))
        if not is_converted(root):
            raise FileNotFoundError(f"{root} is not a converted checkpoint (no skyreels_jax.json): only converted "
                                    "checkpoints load from a remote path; convert it with `python -m convert "
                                    "convert SRC DST`, or download it and give the local folder")
        return _converted_folder(root)
    root = Path(root)
    if is_converted(root):
        return _converted_folder(root)
    index = root / "model_index.json"
    if index.exists():
        layout, pipeline_class = "diffusers", json.loads(index.read_text()).get("_class_name", "")
        transformer, vae = root / "transformer", root / "vae"
        image_encoder = root if (root / "image_encoder").exists() else None
    elif (root / "config.json").exists():
        layout, pipeline_class = "original", ""
        transformer, vae = root, root / "Wan2.1_VAE.pth"
        image_encoder = root if any(root.glob("models_clip_*.pth")) else None
    else:
        raise FileNotFoundError(f"{root} is not a model folder: expected a diffusers pipeline (model_index.json) "
                                "or an original SkyReels-V2 repository (config.json + model*.safetensors)")
    dit = DiTCheckpoint.open(transformer)
    if _diffusion_forcing_hint(root, dit, pipeline_class):
        mode = "diffusion_forcing"
    else:
        mode = {"t2v": "text_to_video", "i2v": "image_to_video", "flf2v": "first_last_frame"}[dit.config.variant]
    defaults = dict(DEFAULTS[mode], num_steps=30, **_resolution(root),
                    negative_prompt=NEGATIVE_PROMPT_DF if mode == "diffusion_forcing" else NEGATIVE_PROMPT)
    scheduler_config = root / "scheduler" / "scheduler_config.json"
    if scheduler_config.exists():  # a diffusers folder states its own shift: UniPC's flow_shift, FlowMatch*'s shift
        sched = json.loads(scheduler_config.read_text())
        defaults["shift"] = float(sched.get("flow_shift", sched.get("shift", defaults["shift"])))
    defaults.update(_own_defaults(root))
    return ModelFolder(root, layout, mode, transformer, vae, root, image_encoder, defaults)


def _converted_folder(root: Path | epath.Path) -> ModelFolder:
    """A folder written by `python -m convert convert`: its manifest states the mode and defaults."""
    manifest = read_manifest(root)
    missing = [n for n in ("transformer", "vae", "text_encoder") if n not in manifest["components"]]
    if missing or "mode" not in manifest:
        raise FileNotFoundError(f"{root} is a converted checkpoint without a whole pipeline (missing "
                                f"{', '.join(missing) or 'the mode'}): convert the full model repository")
    image_encoder = root / "image_encoder" if "image_encoder" in manifest["components"] else None
    defaults = {**_resolution(root), **manifest["defaults"]}  # older manifests hold no size
    return ModelFolder(root, "converted", manifest["mode"], root / "transformer", root / "vae", root / "text_encoder",
                       image_encoder, defaults)


def _resolution(root) -> dict:
    """Size and length from the resolution in the folder's name (720P), else the 540P models'."""
    return dict(RESOLUTION_DEFAULTS["720P" if "720P" in str(root).upper() else "540P"])


def _own_defaults(root: Path) -> dict:
    """The folder's generation_defaults.json: {key: value} for DEFAULT_KEYS, each checked."""
    path = root / GENERATION_DEFAULTS
    if not path.exists():
        return {}
    try:
        own = json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    unknown = sorted(set(own) - set(DEFAULT_KEYS)) if isinstance(own, dict) else ["(not an object)"]
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; it may set {', '.join(DEFAULT_KEYS)}")
    scheduler = own.pop("scheduler", None)
    if scheduler is not None and not isinstance(scheduler, str):
        raise ValueError(f"{path}: scheduler must be a scheduler's name, got {scheduler!r}")
    for key, value in own.items():
        kind = float if key in ("guidance_scale", "shift") else int
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
            raise ValueError(f"{path}: {key} must be {'a number' if kind is float else 'an integer'}, got {value!r}")
    out = {k: (float(v) if k in ("guidance_scale", "shift") else v) for k, v in own.items()}
    return out if scheduler is None else {**out, "scheduler": scheduler}
