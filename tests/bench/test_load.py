"""The loaded-machine detector: its verdict from given figures, and real figures from /proc on Linux."""
import os
import time

import pytest

from halkit.bench import LoadMonitor


def test_a_quiet_machine_is_called_quiet():
    summary = LoadMonitor(cores=2, wall=1.0, others_busy=0.1, steal=0.0, stat_total=2.0, load_average=0.5).summary()
    assert not summary["loaded"] and summary["text"].startswith("quiet")
    assert summary["others_share"] == pytest.approx(0.05)


@pytest.mark.parametrize("figures, reason", [
    ({"load_average": 5.0}, "load average 5.0 on 2 cores"),
    ({"others_busy": 1.2}, "other processes used 60 % of the cores"),
    ({"steal": 0.4}, "stole 20 %"),
])
def test_each_signal_alone_calls_the_machine_loaded_and_says_why(figures, reason):
    quiet = {"cores": 2, "wall": 1.0, "others_busy": 0.0, "steal": 0.0, "stat_total": 2.0, "load_average": 0.1}
    summary = LoadMonitor(**{**quiet, **figures}).summary()
    assert summary["loaded"] and summary["text"].startswith("LOADED") and reason in summary["text"]
    assert "same-run ratios" in summary["text"]


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="/proc/stat is Linux-only")
def test_tracking_reads_real_figures():
    monitor = LoadMonitor()
    with monitor.track():
        end = time.perf_counter() + 0.05
        while time.perf_counter() < end:  # our own CPU time is not counted as others' load
            pass
    summary = monitor.summary()
    assert monitor.available and monitor.wall >= 0.05 and summary["cores"] == monitor.cores >= 1
    assert 0.0 <= summary["others_share"] and 0.0 <= summary["steal_share"] <= 1.0
