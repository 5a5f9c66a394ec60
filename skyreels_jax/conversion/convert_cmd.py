"""`convert SRC DST`: every component of a published folder to Orbax, atomically and resumably.

Local DST: each component is written under DST/.<name>.partial and renamed to DST/<name>
when complete. Remote DST (gs://..., through etils.epath and tensorstore): a bucket cannot
rename a folder atomically, so each component is written in place and completion is marked
by single-object writes, each made after everything it covers: the Orbax checkpoint is
committed by Orbax (its partial saves go to checkpoint.partial_save and are finalised into
checkpoint), then DST/<name>/component.json is written. Either way a rerun skips components
that have their component.json and rewrites the others from scratch. The manifest
DST/skyreels_jax.json is written last of all, so DST is a converted checkpoint (loadable)
only once every component is in it.
"""
from __future__ import annotations

import json
import time
import uuid

from etils import epath

from skyreels_jax.checkpoints.converted import (
    COMPONENT_FILE,
    FORMAT,
    MANIFEST,
    copy_as_is,
    read_component,
    write_component,
)
from skyreels_jax.hub import as_epath, is_remote, resolve
from skyreels_jax.models.components import COMPONENTS, abstract_model, find_components, open_source
from skyreels_jax.models.quantization import quantized_kernels

ALIASES = {"dit": "transformer"}
DTYPES = ("bfloat16", "float32", "keep", "int8", "fp8")
QUANTIZED = ("int8", "fp8")          # the DiT's and text encoder's blocks in that format, the rest bfloat16


def component_dtype(name: str, dtype: str) -> str | None:
    """The dtype a component's float tensors are written in: None keeps the source's. The VAE stays
    float32 (the reference runs it in float32) unless the source dtypes are kept."""
    if dtype == "keep":
        return None
    if name == "vae":
        return "float32"
    return "bfloat16" if dtype in QUANTIZED else dtype


def component_quantization(name: str, dtype: str) -> str | None:
    """The quantization a component is written with (models.quantization: the DiT and the text encoder)."""
    return dtype if dtype in QUANTIZED and name in ("transformer", "text_encoder") else None


def recorded_dtype(name: str, dtype: str) -> str:
    """What component.json records as the component's dtype for a --dtype."""
    return component_quantization(name, dtype) or component_dtype(name, dtype) or "keep"


def parse_components(text: str | None) -> list[str] | None:
    if not text:
        return None
    names = [ALIASES.get(n.strip(), n.strip()) for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in COMPONENTS]
    if unknown:
        raise ValueError(f"unknown component(s) {unknown}: choose from dit (= transformer), vae, text_encoder, "
                         "image_encoder")
    return names


def check_writable(dst: epath.Path) -> None:
    probe = dst / f".write-test-{uuid.uuid4().hex}"
    try:
        dst.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok")
        probe.unlink()
    except Exception as e:  # PermissionError, OSError, or a storage client's own error
        raise PermissionError(f"DST {dst} is not writable ({type(e).__name__}: {e}): give a folder or bucket "
                              "path you can write to") from e


def _rmtree(path: epath.Path) -> None:
    if path.exists():
        path.rmtree()


def convert(src: str, dst: str, dtype: str = "bfloat16", components: list[str] | None = None,
            flush_bytes: int = 256 << 20, log=print) -> epath.Path:
    """Convert SRC (a local folder or Hub id, either layout) into DST (a local folder or gs:// path)."""
    if dtype not in DTYPES:
        raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    if is_remote(src):
        raise ValueError(f"SRC {src} is remote: give a local folder or a Hub id (copy the repository locally "
                         "first); DST may be a gs:// path")
    root = resolve(src)
    found = find_components(root)
    wanted = [ALIASES.get(n, n) for n in components] if components else [n for n in COMPONENTS if n in found]
    missing = [n for n in wanted if n not in found]
    if missing:
        raise FileNotFoundError(f"{src} has no {', '.join(missing)} (it holds {', '.join(found) or 'nothing'}): "
                                "download the whole repository or leave them out of --components")
    out = as_epath(dst)
    check_writable(out)
    for name in wanted:
        want = recorded_dtype(name, dtype)
        if (out / name / COMPONENT_FILE).exists():
            done = read_component(out, name)
            if done["dtype"] != want or done["source"] != str(src):
                raise FileExistsError(f"{out / name} already holds {name} converted from {done['source']} as "
                                      f"{done['dtype']}; convert to another DST or delete it first")
            log(f"{name}: already converted, skipped")
            continue
        start = time.perf_counter()
        source = open_source(name, found[name])
        work = out / name if is_remote(out) else out / f".{name}.partial"
        _rmtree(work)
        _rmtree(epath.Path(f"{work / 'checkpoint'}.partial_save"))
        for rel, path in source.copies.items():  # before component.json, which marks the component done
            copy_as_is(path, out / rel)
        quantize = component_quantization(name, dtype)
        write_component(source, work, component_dtype(name, dtype), str(src), flush_bytes,
                        quantize, quantized_kernels(abstract_model(name, source.config)) if quantize else ())
        if work != out / name:
            _rmtree(out / name)
            work.rename(out / name)
        log(f"{name}: {source.layout} layout from {source.where} -> {out / name} "
            f"({time.perf_counter() - start:.1f} s)")
    _write_manifest(out, root, src, found)
    return out


def _write_manifest(out: epath.Path, root, src: str, found: dict) -> None:
    from skyreels_jax.pipelines.components import inspect_folder

    done = {n: read_component(out, n) for n in COMPONENTS if (out / n / COMPONENT_FILE).exists()}
    manifest = dict(format=FORMAT, source=str(src), components={n: info["dtype"] for n, info in done.items()})
    quantized = {info["quantize"] for info in done.values() if "quantize" in info}
    if quantized:  # what `load_pipeline(DST)` runs with when no quantize= is given
        manifest["quantize"] = quantized.pop() if len(quantized) == 1 else sorted(quantized)
    if "transformer" in found:
        try:
            folder = inspect_folder(root)
            manifest.update(layout=folder.layout, mode=folder.mode, defaults=folder.defaults)
        except (FileNotFoundError, ValueError):  # a lone component folder: no pipeline defaults
            pass
    text = json.dumps(manifest, indent=1, ensure_ascii=False)
    if not is_remote(out):
        tmp = out / f".{MANIFEST}.partial"
        tmp.write_text(text)
        tmp.replace(out / MANIFEST)
    else:  # one object write is atomic on a bucket
        (out / MANIFEST).write_text(text)
