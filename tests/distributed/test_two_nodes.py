"""Two "nodes" on one machine: two launchers meet through a c10d rendezvous on loopback."""

import json
from pathlib import Path

import pytest

REPORT_WORKER = Path(__file__).parent / "scripts" / "report_worker.py"
pytestmark = pytest.mark.timeout(150)


def test_two_launchers_form_one_world_over_c10d_on_loopback(jobs, tmp_path):
    rendezvous = ["--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
                  "--rdzv-endpoint", f"127.0.0.1:{jobs.free_port()}", "--rdzv-id", tmp_path.name]
    nodes = [jobs.start(*rendezvous, REPORT_WORKER, tmp_path) for _ in range(2)]
    outputs = [node.communicate(timeout=120)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs

    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert sorted(r["env"]["GROUP_RANK"] for r in reports) == ["0", "1"]  # one per node
    for rank, report in enumerate(reports):
        assert (report["rank"], report["world_size"]) == (rank, 2)
        assert report["env"]["LOCAL_RANK"] == "0"  # each node has one worker
        assert report["env"]["MASTER_ADDR"] == "127.0.0.1"
        assert report["grad_error"] < 1e-5  # gradients all-reduced across the two nodes
