"""Running the conformance suite against one driver: every check, its verdict, and the report.

Verdicts: ``pass``; ``fail``; ``xfail`` — failed, and the driver lists the
feature in ``capabilities().unsupported`` (the reason is reported);
``xpass`` — listed but passed (the list is stale: reported, and a failure
for pytest); ``n/a`` — the feature does not exist on this driver (the reason
says why; never counted as a pass).

Each check runs on its own thread with a deadline, so a driver that hangs
fails that check instead of hanging the suite; the device is synchronized
after every check, so a failure a check left queued is charged to it.
"""
from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import sys
import threading
import time
import traceback
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import hal
from ..hal.driver import Capabilities, Driver
from ..hal.fallback import HostFallbackWarning
from . import api, concurrency, declared, fallbacks, memory, misuse, ordering  # noqa: F401 - they register checks
from .ops import op_checks
from .suite import CHECKS, Check, Context, NotApplicable

PASS, FAIL, XFAIL, XPASS, NA = "pass", "fail", "xfail", "xpass", "n/a"
DEADLINE = 120.0  # seconds a check may take before it counts as hung (thorough: 5×)


@dataclass
class Result:
    feature: str
    status: str
    message: str = ""  # why it failed / is expected to fail / does not apply
    note: str = ""  # what a passing check observed (an op's route: native, decomposed, host)
    seconds: float = 0.0


@dataclass
class Report:
    driver: str
    capabilities: Capabilities
    results: list[Result] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """No failure and no stale expected failure."""
        return not any(r.status in (FAIL, XPASS) for r in self.results)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    def __getitem__(self, feature: str) -> Result:
        return next(r for r in self.results if r.feature == feature)

    def summary(self) -> str:
        counts = ", ".join(f"{self.count(s)} {s}" for s in (PASS, FAIL, XFAIL, XPASS, NA) if self.count(s))
        return f"{self.driver}: {counts} in {self.seconds:.1f} s — {'CONFORMS' if self.ok else 'DOES NOT CONFORM'}"


def resolve(device) -> Driver:
    """A driver from a registered name or a Driver instance."""
    return device if isinstance(device, Driver) else hal.get_backend(device)


def driver_class(spec: str) -> type:
    """A driver class from ``"module:Class"`` or ``"path/to/file.py:Class"`` (e.g. a driver not installed yet)."""
    target, _, class_name = spec.rpartition(":")
    if not target or not class_name:
        raise ValueError(f"a driver is named module:Class or path/to/file.py:Class, got {spec!r}")
    if target.endswith(".py"):
        path = Path(target).resolve()
        if not path.is_file():
            raise OSError(f"no such file: {path}")
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = sys.modules[path.stem] = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    cls = getattr(module, class_name)
    if not (isinstance(cls, type) and issubclass(cls, Driver)):
        raise ValueError(f"{spec} is a {type(cls).__name__}, not a halkit.hal.Driver subclass")
    return cls


def checks(driver: Driver, thorough: bool = False) -> list[Check]:
    """Every check the suite runs against ``driver`` (the op checks follow its declared dtypes)."""
    return [*CHECKS.values(), *op_checks(driver, thorough)]


def feature_ids(driver: Driver) -> list[str]:
    return [c.id for c in checks(driver)]


def expected_failure(caps: Capabilities, feature: str) -> str | None:
    """The reason ``feature`` is listed as unsupported (an exact id or a dotted prefix of it), else None."""
    for listed, reason in caps.unsupported.items():
        if feature == listed or feature.startswith(listed + "."):
            return reason
    return None


def run_check(driver: Driver, chk: Check, thorough: bool = False, deadline: float | None = None) -> Result:
    """One check against ``driver``, with its verdict (its random inputs are seeded by the feature id); a check
    still running after ``deadline`` seconds (default DEADLINE, 5× when thorough) fails as a hang."""
    ctx = Context(driver, thorough, np.random.default_rng(zlib.crc32(chk.id.encode())))
    outcome: dict = {}

    def body():
        try:
            outcome["note"] = chk.run(ctx) or ""
        except NotApplicable as exc:
            outcome["na"] = str(exc)
        except BaseException as exc:  # noqa: BLE001 - every failure is a verdict
            outcome["error"] = exc
    start = time.perf_counter()
    deadline = deadline or DEADLINE * (5 if thorough else 1)
    with warnings.catch_warnings():
        # The verdict states every fallback and numeric edge; the warnings would only repeat it.
        warnings.simplefilter("ignore", HostFallbackWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        worker = threading.Thread(target=body, name=f"cts {chk.id}", daemon=True)
        worker.start()
        worker.join(deadline)
    if worker.is_alive():
        outcome = {"error": TimeoutError(f"did not finish in {deadline:.0f} s (a hang)")}
    else:
        try:
            ctx.driver.synchronize(None, timeout=60)
            for stream in ctx.streams:
                ctx.driver.destroy_stream(stream)
        except Exception as exc:  # noqa: BLE001 - work the check left behind failed
            outcome.setdefault("error", AssertionError(f"left a failure queued on the device: "
                                                       f"{type(exc).__name__}: {exc}"))
    seconds = time.perf_counter() - start
    listed = expected_failure(ctx.caps, chk.id)
    if "na" in outcome:
        return Result(chk.id, NA, outcome["na"], seconds=seconds)
    if "error" in outcome:
        exc = outcome["error"]
        message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, AssertionError) else str(exc)
        if not isinstance(exc, (AssertionError, TimeoutError)):
            message += "\n" + "".join(traceback.format_exception(exc)[-3:])
        return Result(chk.id, XFAIL if listed else FAIL, listed or message, seconds=seconds)
    if listed:
        return Result(chk.id, XPASS, f"listed as unsupported ({listed}) but passed", outcome["note"], seconds)
    return Result(chk.id, PASS, note=outcome["note"], seconds=seconds)


def run(device, thorough: bool = False, select: str | None = None, progress=None) -> Report:
    """Run the suite against ``device`` (a registered name or a Driver); ``select`` is a glob over feature ids
    (e.g. ``"ops.conv2d.*"``); ``progress(result)`` is called after each check."""
    driver = resolve(device)
    report = Report(driver.name, driver.capabilities())
    start = time.perf_counter()
    for chk in checks(driver, thorough):
        if select and not fnmatch.fnmatchcase(chk.id, select):
            continue
        result = run_check(driver, chk, thorough)
        report.results.append(result)
        if progress:
            progress(result)
    report.seconds = time.perf_counter() - start
    return report
