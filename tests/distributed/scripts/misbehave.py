"""A worker that fails or hangs on purpose: `misbehave.py MODE OUT_DIR`.

exit3 — rank 1 exits with code 3 (others wait forever);
raise — rank 1 raises an exception (others wait forever);
hang  — every rank starts a child process, then waits forever;
sleep — every rank waits forever;
group — every rank joins the gloo process group (rank 0 hosts its store), then waits forever.
Each rank writes OUT_DIR/ready.<rank> once it is running; rank 1 writes
OUT_DIR/failing_at with the time just before it fails.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

mode, out_dir = sys.argv[1], Path(sys.argv[2])
rank = int(os.environ["RANK"])
if mode == "hang":
    # A grandchild of the launcher: it must not outlive the job either.
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
if mode == "group":
    import torch.distributed

    torch.distributed.init_process_group("gloo")
(out_dir / f"ready.{rank}").touch()
if rank == 1 and mode in ("exit3", "raise"):
    (out_dir / "failing_at").write_text(repr(time.time()))
    if mode == "exit3":
        sys.exit(3)
    raise ValueError("injected failure on rank 1")
time.sleep(600)
