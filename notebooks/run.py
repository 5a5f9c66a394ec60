"""Execute the notebooks headless and save them with their outputs, as they are committed.

    python notebooks/run.py notebooks/quickstart.ipynb [...]    # run in place, outputs kept, timings printed
    python notebooks/run.py notebooks/real_models.ipynb --parameters '{"SOURCE": "tiny"}'

Each notebook runs in a fresh kernel of this Python (jupyter_client starts "python" as sys.executable),
with this checkout first on the import path and a scratch folder as its working directory. A cell
tagged "parameters" holds the sizes; `execute(..., parameters=)` adds a cell after it that overrides
them (as papermill does), which is how the test suite runs every notebook at small sizes.
Saved outputs drop what only makes sense live (progress-bar widgets) and the run's timing metadata; a
saved notebook keeps its own parameter cell (the overriding one is dropped), so say in its text what
its outputs were run with.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDGET = "application/vnd.jupyter.widget-view+json"


@contextlib.contextmanager
def _environment(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def with_parameters(nb, parameters: dict):
    """A copy of nb with a cell after its "parameters" cell that sets `parameters`."""
    import copy

    import nbformat

    nb = copy.deepcopy(nb)
    index = next((i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])), None)
    if index is None:
        raise ValueError("the notebook has no cell tagged 'parameters'")
    source = "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(index + 1, cell)
    return nb


def execute(path: Path, parameters: dict | None = None, workdir: Path | None = None, timeout: int = 900):
    """The executed notebook (nbformat node); raises nbclient's CellExecutionError on a failing cell."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    if parameters:
        nb = with_parameters(nb, parameters)
    path_env = os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        stack.enter_context(_environment(PYTHONPATH=path_env, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu")))
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                                resources={"metadata": {"path": str(workdir)}})
        client.execute()
    return clean(nb)


def clean(nb):
    """Drop live-only outputs: progress-bar widgets (and the widget state) and execution timings."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if WIDGET not in o.get("data", {})]
    return nb


def main(argv=None) -> int:
    import nbformat

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--parameters", type=json.loads, default=None, help="JSON object of parameter overrides")
    args = ap.parse_args(argv)
    for path in args.notebooks:
        start = time.perf_counter()
        nb = execute(path, args.parameters)
        nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
        nbformat.write(nb, path)
        print(f"{path}: {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
