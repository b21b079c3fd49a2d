"""``python -m halkit.cts``: run the conformance suite against drivers and print the capability matrix."""
from __future__ import annotations

import argparse
import sys

from .. import hal
from .matrix import capability_matrix
from .runner import FAIL, XPASS, driver_class, run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m halkit.cts", description=__doc__)
    parser.add_argument("--device", action="append", default=[], metavar="NAME",
                        help="a registered driver (repeatable); default: every driver that loads")
    parser.add_argument("--driver", action="append", default=[], metavar="MODULE:CLASS",
                        help="load and register a driver class first, e.g. examples/devices/arena_device.py:ArenaDriver")
    parser.add_argument("--thorough", action="store_true", help="more shapes and iterations (minutes, not seconds)")
    parser.add_argument("--select", metavar="GLOB", help="only features matching, e.g. 'ops.conv2d.*' or 'errors.*'")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every check as it finishes")
    args = parser.parse_args(argv)

    for spec in args.driver:
        try:
            driver = driver_class(spec)()
        except (ImportError, AttributeError, OSError, ValueError) as exc:
            parser.error(f"--driver {spec}: {exc}")
        hal.register_backend(driver.name, driver)
        args.device.append(driver.name)
    names = args.device
    if not names:
        names = hal.backends()
        for name, why in hal.unavailable_backends().items():
            print(f"(skipping {name!r}: {why})")
    reports = []
    for name in names:
        def progress(result, name=name):
            if args.verbose or result.status in (FAIL, XPASS):
                print(f"  {name:<10} {result.status:<6} {result.feature:<36} {result.seconds * 1e3:7.0f} ms"
                      + (f"  {result.message.splitlines()[0]}" if result.message else ""), flush=True)
        try:
            report = run(name, thorough=args.thorough, select=args.select, progress=progress)
        except hal.BackendUnavailableError as exc:
            print(f"{name}: {exc}")
            return 2
        print(report.summary(), flush=True)
        reports.append(report)
    print()
    print(capability_matrix(reports))
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
