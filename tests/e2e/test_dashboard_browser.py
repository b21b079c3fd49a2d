"""The benchmark dashboard in a real browser: JupyterLab + headless Debian Chromium through Python Playwright.

Opens notebooks/04 in a throw-away JupyterLab, runs all cells, checks that the
size sliders and the plot rendered, moves the M slider and checks the plot is
redrawn, and saves screenshots (to $HALKIT_SCREENSHOT_DIR, default results/e2e/).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from .lab_server import REPO, LabServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
NOTEBOOK = "04_benchmark_dashboard.ipynb"
PLOT = "img.halkit-bench-plot"
SLIDERS = ".halkit-size-slider"

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]


def _require_browser():
    """Skip when there is no browser to drive — but under CI a missing browser is a failure."""
    problems = []
    if not Path(CHROMIUM).exists():
        problems.append(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright Python package is missing (pip install -e '.[dev]')")
    if problems:
        message = "browser test needs: " + "; ".join(problems) + " — never `playwright install`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def lab(tmp_path):
    _require_browser()
    server = LabServer(tmp_path)
    yield server
    server.stop()


KERNEL_IDLE = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
                   && panel.sessionContext.session.kernel;
    return kernel && kernel.status === 'idle';
}"""


def test_benchmark_dashboard_renders_and_reacts(lab):
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("HALKIT_SCREENSHOT_DIR", REPO / "results" / "e2e"))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}")
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
            page.wait_for_function(KERNEL_IDLE, timeout=60_000)

            page.evaluate("() => window.jupyterapp.commands.execute('runmenu:run-all')")
            plot = page.wait_for_selector(PLOT, state="visible", timeout=120_000)
            page.wait_for_function(KERNEL_IDLE, timeout=60_000)
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
            assert errors.count() == 0, errors.first.inner_text()

            sliders = page.locator(SLIDERS)
            assert sliders.count() == 3  # M, N, K
            assert sliders.first.is_visible()
            before_src = plot.get_attribute("src")
            before_value = sliders.first.locator(".widget-readout").inner_text()
            assert before_src and before_src.startswith(("blob:", "data:"))

            # Move M one notch right with the keyboard (the slider commits on release, like a drag).
            sliders.first.locator(".noUi-handle").focus()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "([sel, old]) => { const img = document.querySelector(sel); return img && img.src !== old; }",
                arg=[PLOT, before_src], timeout=60_000)
            assert sliders.first.locator(".widget-readout").inner_text() != before_value
            page.wait_for_function(KERNEL_IDLE, timeout=60_000)
            dashboard = page.locator(".halkit-bench-dashboard")
            dashboard.scroll_into_view_if_needed()
            dashboard.screenshot(path=str(shots / "benchmark_dashboard.png"))  # the README's picture
            page.screenshot(path=str(shots / "benchmark_dashboard_page.png"))
        finally:
            browser.close()
