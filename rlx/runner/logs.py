"""Where a run's metrics go, once a chunk: metrics.jsonl (always),
TensorBoard event files (tensorboardX) and, when asked, Weights & Biases."""

from __future__ import annotations

import hashlib
import json
import math
import os

METRICS = "metrics.jsonl"


def _sha256(path: str, num_bytes: float = math.inf):
    """A SHA-256 object fed the first `num_bytes` bytes (all: inf) of the file at `path`."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while num_bytes > 0:
            block = f.read(int(min(num_bytes, 1 << 20)))
            if not block:
                break
            digest.update(block)
            num_bytes -= len(block)
    return digest


def prefix_digest(path: str, num_bytes: int) -> str:
    """The SHA-256 (hex) of the first `num_bytes` bytes of the file at `path`."""
    return _sha256(path, num_bytes).hexdigest()


class RunLog:
    """Rows to metrics.jsonl and scalars to TensorBoard / W&B.

    `truncate_to` cuts metrics.jsonl back to a checkpoint's byte offset on
    resume, so rows written after that checkpoint by a killed run are neither
    duplicated nor kept; `purge_step` hides the same steps in TensorBoard.
    A running SHA-256 of the file is kept, so each checkpoint can record the
    checksum of the rows it follows (a hand-edited file is then detected).
    """

    def __init__(self, out: str, *, tensorboard: bool, wandb_project: str = "", record: dict | None = None,
                 truncate_to: int | None = None, purge_step: int | None = None):
        self.path = os.path.join(out, METRICS)
        if truncate_to is not None:
            os.truncate(self.path, truncate_to)
        self.digest = _sha256(self.path)  # the rows kept: the checksum continues from them
        self.file = open(self.path, "ab")
        self.tensorboard = None
        if tensorboard:
            from tensorboardX import SummaryWriter

            self.tensorboard = SummaryWriter(os.path.join(out, "tb"), purge_step=purge_step)
        self.wandb = None
        if wandb_project:
            import wandb

            self.wandb = wandb.init(project=wandb_project, config=record, dir=out)

    def write(self, rows: list[dict], scalars: list[tuple[int, dict[str, float]]]) -> tuple[int, str]:
        """Appends `rows` (flushed) and logs `scalars` as (step, {tag: value});
        returns metrics.jsonl's size in bytes after the rows and its SHA-256."""
        data = "".join(json.dumps(row) + "\n" for row in rows).encode()
        self.file.write(data)
        self.file.flush()
        self.digest.update(data)
        for step, values in scalars:
            if self.tensorboard is not None:
                for tag, value in values.items():
                    # A NaN or Inf is in metrics.jsonl and stops the run with one line
                    # (rlx.run); tensorboardX would warn about each such scalar.
                    if math.isfinite(value):
                        self.tensorboard.add_scalar(tag, value, step)
            if self.wandb is not None:
                self.wandb.log(values, step=step)
        if self.tensorboard is not None:
            self.tensorboard.flush()
        return self.file.tell(), self.digest.hexdigest()

    def close(self) -> None:
        self.file.close()
        if self.tensorboard is not None:
            self.tensorboard.close()
        if self.wandb is not None:
            self.wandb.finish()
