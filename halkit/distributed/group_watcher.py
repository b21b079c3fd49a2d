"""Stop a worker's process group once the worker is gone: `python group_watcher.py PIDFD GROUP`.

PR_SET_PDEATHSIG kills a worker whose launcher was SIGKILLed, but fork clears
it, so the worker's own children (subprocesses, DataLoader workers) would
live on, re-parented to init. torch's agent starts each worker as the leader
of a new process group, which those children join, and normally stops the
group itself (killpg); when the agent is gone, this watcher does.

The worker starts it (halkit.distributed.worker) with a pidfd of itself: the
pidfd turns readable the moment the worker exits, however it exits. The
watcher then SIGTERMs the group and SIGKILLs what is left after a grace
period. It runs no user code and imports nothing heavy (run by path, not as
part of the halkit package), so nothing delays it.

Two differences from torch's agent alone: what a worker leaves running in its
group is stopped as soon as that worker exits (the agent would stop it when
the whole job ends), and a child that started its own session (setsid) has
left the group and is out of reach for both.
"""

import os
import select
import signal
import sys
import time

GRACE_S = 3.0  # SIGTERM first: children get to clean up, as under torch's agent


def stop_group(group: int, grace_s: float = GRACE_S) -> None:
    """SIGTERM every process of `group`, SIGKILL those still there after `grace_s`."""
    try:
        os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            time.sleep(0.05)
            os.killpg(group, 0)  # raises ProcessLookupError once the group is empty
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass  # nothing (left) to stop


def main(pidfd: int, group: int) -> None:
    select.select([pidfd], [], [])  # blocks until the worker has exited
    stop_group(group)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
