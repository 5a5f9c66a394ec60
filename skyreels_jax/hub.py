"""A model id or path to a folder: local folders as they are, remote ones (gs://...) as etils
epath paths, Hub ids through the HF cache."""
from __future__ import annotations

import re
from pathlib import Path

from etils import epath

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_REMOTE = re.compile(r"^[a-z][a-z0-9+.-]*://")
TOY = Path(__file__).parent / "assets" / "toy"   # the embedded default model
TOY_FAST = TOY.with_name("toy_fast")             # the embedded model distilled to 4 steps without CFG
EMBEDDED = {"toy": TOY, "toy-fast": TOY_FAST}


def is_remote(path) -> bool:
    """Whether `path` names a remote location (gs://bucket/x, s3://...): pathlib would mangle it
    ("gs:/bucket/x"), so it must stay an etils.epath.Path."""
    return bool(_REMOTE.match(str(path))) and not str(path).startswith("file://")


def as_epath(path) -> epath.Path:
    """An etils path for Orbax and remote-capable file access: a remote one as it is, a local one made
    absolute (Orbax refuses relative paths)."""
    return epath.Path(str(path)) if is_remote(path) else epath.Path(Path(path).expanduser().resolve())


def resolve(path_or_id: str | Path) -> Path | epath.Path:
    """The folder of a model. A Hub id ("Skywork/SkyReels-V2-DF-1.3B-540P[-Diffusers]") is
    fetched with huggingface_hub into its normal cache; HF_HUB_OFFLINE=1 uses the cache only.
    A remote path (gs://...) comes back as an epath.Path, unchecked (only a converted
    checkpoint can be read from there). "toy" is the small model shipped inside the package and
    "toy-fast" its 4-step distilled student (a local folder named toy is "./toy")."""
    if str(path_or_id) in EMBEDDED:
        return EMBEDDED[str(path_or_id)]
    if is_remote(path_or_id):
        return epath.Path(str(path_or_id))
    path = Path(path_or_id).expanduser()
    if path.exists():
        return path
    text = str(path_or_id)
    if not _HUB_ID.match(text) or text.startswith((".", "/", "~")):
        raise FileNotFoundError(f"model path {text} does not exist: give a local model folder or a Hub id "
                                "such as Skywork/SkyReels-V2-DF-1.3B-540P-Diffusers")
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(text))
    except LocalEntryNotFoundError as e:
        reason = ("offline mode is on (HF_HUB_OFFLINE=1)" if constants.HF_HUB_OFFLINE
                  else "the Hub could not be reached")
        raise FileNotFoundError(f"{text} is not in the local Hugging Face cache and {reason}: download it once "
                                "with network access (huggingface-cli download ...) or pass a local folder") from e
