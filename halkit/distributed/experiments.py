"""Run the DDP recipe on N workers from Python and compare runs (used by notebook 07)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from halkit.distributed.runner import launch


def train_on_workers(nproc_per_node: int, *train_args, echo: bool = False, **launch_flags) -> dict:
    """`python -m halkit.launch --nproc-per-node N -m halkit.distributed.train ARGS`.

    Returns rank 0's metrics (loss curve, per-rank speed, HAL backend and
    threads, restarts). Extra keyword arguments are launcher flags, e.g.
    `max_restarts=1`; `train_args` go to the training script, e.g. "--steps", 40.
    """
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "metrics.json"
        launch("halkit.distributed.train", *train_args, "--metrics", metrics, module=True,
               nproc_per_node=nproc_per_node, echo=echo, **launch_flags)
        return json.loads(metrics.read_text())


def compare_runs(runs: dict[int, dict]) -> list[dict]:
    """One row per run: speed, and how far its loss curve is from the smallest run's."""
    baseline = runs[min(runs)]["losses"]
    rows = []
    for workers, metrics in sorted(runs.items()):
        losses = metrics["losses"]
        if len(losses) != len(baseline):
            raise ValueError(f"runs differ in length: {len(losses)} vs {len(baseline)} steps")
        rows.append({
            "workers": workers,
            "threads_per_worker": metrics["hal_threads"],
            "median_step_ms": metrics["median_step_s"] * 1e3,
            # the job moves at the pace of its slowest rank
            "samples_per_s": metrics["config"]["global_batch"] / metrics["median_step_s"],
            "final_loss": losses[-1],
            "max_loss_diff": max(abs(a - b) for a, b in zip(losses, baseline)),
        })
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows of compare_runs as a fixed-width text table."""
    header = f"{'workers':>7} {'threads':>7} {'ms/step':>8} {'samples/s':>10} {'final loss':>10} {'max |Δloss|':>11}"
    lines = [header]
    for r in rows:
        lines.append(f"{r['workers']:>7} {r['threads_per_worker']:>7} {r['median_step_ms']:>8.2f} "
                     f"{r['samples_per_s']:>10.0f} {r['final_loss']:>10.5f} {r['max_loss_diff']:>11.2e}")
    return "\n".join(lines)
