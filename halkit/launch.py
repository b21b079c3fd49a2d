"""`python -m halkit.launch [torchrun flags] SCRIPT [ARGS...]` — see halkit.distributed.launcher."""

import sys

from halkit.distributed.launcher import main

if __name__ == "__main__":
    sys.exit(main())
