"""``python -m halkit.build``: compile cpp/ into the importable ``halkit._native`` module."""
import sys

from halkit._buildtool import main

if __name__ == "__main__":
    sys.exit(main())
