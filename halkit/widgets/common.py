"""What every dashboard shares: error display in the status line, and controls disabled while work runs."""
from __future__ import annotations

import contextlib
import html
import traceback


def error_html(exc: BaseException) -> str:
    return f"<span style='color:#b00'>{html.escape(f'{type(exc).__name__}: {exc}')}</span>"


def report_errors(action, status, on_error=None) -> None:
    """Run a callback's action; show an error in ``status`` (an HTML widget) instead of losing it in the kernel log.

    A dashboard must survive a bad input; the message says what went wrong, the traceback goes to the log.
    """
    try:
        action()
    except Exception as exc:
        status.value = error_html(exc)
        if on_error is not None:
            on_error()
        traceback.print_exc()


@contextlib.contextmanager
def disabled(*controls):
    """Grey out ``controls`` for the duration of the block (a click on a busy dashboard would only queue
    another run behind this one), and enable them again even when the block fails."""
    for control in controls:
        control.disabled = True
    try:
        yield
    finally:
        for control in controls:
            control.disabled = False


def hal_backends() -> list[str]:
    from halkit import hal

    return hal.backends()
