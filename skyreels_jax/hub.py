"""A model id or path to a local folder: local folders as they are, Hub ids through the HF cache."""
from __future__ import annotations

import re
from pathlib import Path

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
TOY = Path(__file__).parent / "assets" / "toy"   # the embedded default model (issue 10)


def resolve(path_or_id: str | Path) -> Path:
    """The local folder of a model. A Hub id ("Skywork/SkyReels-V2-DF-1.3B-540P[-Diffusers]") is
    fetched with huggingface_hub into its normal cache; HF_HUB_OFFLINE=1 uses the cache only.
    "toy" is the small model shipped inside the package (a local folder named toy is "./toy")."""
    if str(path_or_id) == "toy":
        return TOY
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
