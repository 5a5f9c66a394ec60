"""Training metrics to stdout, `workdir/metrics.jsonl` and, when the `tensorboard` package is
installed, TensorBoard event files under `workdir/tensorboard` (written without TensorFlow).

Only one process writes (process 0 in a multi-host run). On resume, JSONL entries past the
resumed step are dropped, and TensorBoard is told to discard its later events too (a session
START marker after that step), so both show the resumed run's curve once.
"""
from __future__ import annotations

import json
import time
from pathlib import Path


def _tensorboard(logdir: Path):
    """An event writer from the tensorboard package, or None when it is not installed."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError:
        return None
    return EventFileWriter(str(logdir)), event_pb2, summary_pb2


class MetricsLog:
    def __init__(self, workdir: str | Path, *, start_step: int = 0, enabled: bool = True, verbose: bool = True,
                 tensorboard: bool = True):
        self.enabled, self.verbose = enabled, verbose
        self.path = Path(workdir) / "metrics.jsonl"
        self.file = self.tb = None
        if not enabled:
            return
        if self.path.exists():
            keep = [line for line in self.path.read_text().splitlines() if json.loads(line)["step"] <= start_step]
            self.path.write_text("".join(line + "\n" for line in keep))
        self.file = self.path.open("a")
        self.tb = _tensorboard(Path(workdir) / "tensorboard") if tensorboard else None
        if self.tb is not None and start_step > 0:
            writer, event_pb2, _ = self.tb
            start = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
            writer.add_event(event_pb2.Event(wall_time=time.time(), step=start_step + 1, session_log=start))

    @property
    def tensorboard_dir(self) -> Path | None:
        return None if self.tb is None else self.path.parent / "tensorboard"

    def write(self, step: int, metrics: dict) -> None:
        """One line {"step": step, **metrics} (float values)."""
        if not self.enabled:
            return
        row = {k: float(v) for k, v in metrics.items()}
        row["step"] = int(step)
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()
        if self.tb is not None:
            writer, event_pb2, summary_pb2 = self.tb
            values = [summary_pb2.Summary.Value(tag=k, simple_value=v) for k, v in row.items() if k != "step"]
            writer.add_event(event_pb2.Event(wall_time=time.time(), step=step,
                                             summary=summary_pb2.Summary(value=values)))
            writer.flush()
        if self.verbose:
            print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        if self.tb is not None:
            self.tb[0].close()
