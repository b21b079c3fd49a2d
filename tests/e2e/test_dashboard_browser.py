"""The notebooks in a real browser: JupyterLab + headless Debian Chromium through Python Playwright.

Opens a notebook in a throw-away JupyterLab and runs all cells, then checks what a reader sees: every cell
tagged ``figure`` shows a decoded image (notebook 04's sweep plot and 06's training curves are static
figures, the dashboards are widgets), no cell shows a figure as text or an error. On notebook 04 it also
moves the M slider and switches the dtype, checks the plot is redrawn with a float64 case of its own, and
saves screenshots (to $HALKIT_SCREENSHOT_DIR, default results/e2e/).
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

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]


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


@pytest.fixture
def page(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 1400})
        finally:
            browser.close()


ALL_RAN = """() => window.jupyterapp.shell.currentWidget.content.widgets
    .filter(cell => cell.model.type === 'code').every(cell => cell.model.executionCount !== null)"""

KERNEL_IDLE = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
                   && panel.sessionContext.session.kernel;
    return kernel && kernel.status === 'idle';
}"""

# For each cell tagged "figure": its index, whether its output holds a decoded image (a static figure's
# .jp-RenderedImage or a widget's <img>), and any output that shows a figure as text instead.
FIGURE_CELLS = """() => {
    const cells = window.jupyterapp.shell.currentWidget.content.widgets;
    return cells.map((cell, index) => ({cell, index}))
        .filter(({cell}) => (cell.model.getMetadata('tags') || []).includes('figure'))
        .map(({cell, index}) => {
            const images = [...cell.node.querySelectorAll('.jp-OutputArea img')];
            const text = [...cell.node.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText).join(' ');
            return {index,
                    static_images: cell.node.querySelectorAll('.jp-RenderedImage img').length,
                    decoded: images.filter(img => img.complete && img.naturalWidth > 0).length,
                    figure_as_text: /<Figure size|<Axes:/.test(text)};
        });
}"""


def _run_all(page, lab, notebook):
    page.goto(f"{lab.url}/lab/tree/{notebook}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    page.evaluate("() => window.jupyterapp.commands.execute('runmenu:run-all')")
    page.wait_for_function(ALL_RAN, timeout=240_000)
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, errors.first.inner_text()


def _figure_cells(page):
    for cell in page.evaluate(FIGURE_CELLS):  # bring each into view: JupyterLab may defer off-screen outputs
        page.evaluate(f"() => window.jupyterapp.shell.currentWidget.content.widgets[{cell['index']}]"
                      ".node.scrollIntoView()")
    page.wait_for_function(f"() => ({FIGURE_CELLS})().every(c => c.decoded > 0)", timeout=30_000)
    return page.evaluate(FIGURE_CELLS)


def test_benchmark_dashboard_renders_and_reacts(lab, page):
    shots = Path(os.environ.get("HALKIT_SCREENSHOT_DIR", REPO / "results" / "e2e"))
    shots.mkdir(parents=True, exist_ok=True)
    _run_all(page, lab, NOTEBOOK)
    cells = _figure_cells(page)
    assert len(cells) == 2 and all(c["decoded"] and not c["figure_as_text"] for c in cells), cells
    assert cells[0]["static_images"] == 1  # the sweep plot: a static figure, shown as an image

    plot = page.wait_for_selector(PLOT, state="visible", timeout=30_000)
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

    # float64: a case of its own in the table, with its own peak line.
    dashboard = page.locator(".halkit-bench-dashboard")
    moved_src = plot.get_attribute("src")
    dashboard.locator(".halkit-dtype select").select_option("float64")
    page.wait_for_function(
        "([sel, old]) => { const img = document.querySelector(sel); return img && img.src !== old; }",
        arg=[PLOT, moved_src], timeout=60_000)
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    table = dashboard.locator(".halkit-bench-table").inner_text()
    assert "float64" in table and "float32" in table and "spread" in table
    assert not dashboard.locator("button.halkit-run-button").is_disabled()  # enabled again after the run

    dashboard.scroll_into_view_if_needed()
    dashboard.screenshot(path=str(shots / "benchmark_dashboard.png"))  # the README's picture (docs/screenshots/benchmark_dashboard_after.png)
    page.screenshot(path=str(shots / "benchmark_dashboard_page.png"))


def test_training_notebook_figures_are_images(lab, page):
    _run_all(page, lab, "06_train_mlp.ipynb")
    cells = _figure_cells(page)
    assert len(cells) == 2 and all(c["decoded"] and not c["figure_as_text"] for c in cells), cells
    assert cells[0]["static_images"] == 1  # the training curves: a static figure, shown as an image
