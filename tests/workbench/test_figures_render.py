"""Every figure a notebook means to draw reaches the reader as an image (issue 15, item 1).

nbmake only checks that cells run: a figure that Jupyter shows as the text ``<Figure size 1100x380 with 2
Axes>`` passes it. This test executes each notebook headless with nbclient (``HALKIT_FAST=1``, as CI) and
reads what a reader would see (from nbmake's execution when the session ran it, see conftest.py):

* a code cell tagged ``figure`` (cell metadata ``"tags": ["figure"]``) produced an ``image/png`` output, or
  displayed a widget holding a PNG (a dashboard's ``ipywidgets.Image``, an ``interact``'s output);
* a cell that produced an image is tagged ``figure``, so the tags stay the list of the notebook's figures;
* no cell shows a figure's or axes' text repr without the image.
"""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
TAG = "figure"
PNG = b"\x89PNG\r\n\x1a\n"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
TEXT_REPR = re.compile(r"^<(Figure size|Axes[:>]|matplotlib\.)")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _png_output(output) -> bool:
    data = output.get("data", {})
    return "image/png" in data and base64.b64decode(data["image/png"]).startswith(PNG)


def _widget_shows_png(model_id: str, state: dict, seen=None) -> bool:
    """Whether the widget ``model_id`` or any widget inside it holds a PNG image."""
    seen = set() if seen is None else seen
    if model_id in seen or model_id not in state:
        return False
    seen.add(model_id)
    model = state[model_id]
    for buffer in model.get("buffers") or []:
        if buffer.get("path") == ["value"] and base64.b64decode(buffer["data"]).startswith(PNG):
            return True  # an ipywidgets.Image with PNG bytes
    fields = model.get("state", {})
    if any(_png_output(o) for o in fields.get("outputs", [])):
        return True  # an ipywidgets.Output (interact) that displayed a figure
    children = fields.get("children", [])
    return any(_widget_shows_png(c.removeprefix("IPY_MODEL_"), state, seen) for c in children)


def _shows_image(cell, state: dict) -> bool:
    for output in cell.get("outputs", []):
        if _png_output(output):
            return True
        view = output.get("data", {}).get(WIDGET_VIEW)
        if view and _widget_shows_png(view["model_id"], state):
            return True
    return False


def _text_only_figures(cell) -> list[str]:
    return [o["data"]["text/plain"] for o in cell.get("outputs", [])
            if "text/plain" in o.get("data", {}) and "image/png" not in o["data"]
            and TEXT_REPR.match(o["data"]["text/plain"])]


@pytest.fixture(scope="module")
def run_notebook(tmp_path_factory, executed_notebooks):
    import nbformat
    from nbclient import NotebookClient

    def run(path: Path):
        if path.name in executed_notebooks:  # nbmake executed it in this session (conftest.py)
            return executed_notebooks[path.name]
        nb = nbformat.read(path, as_version=4)
        workdir = tmp_path_factory.mktemp(path.stem)  # files a notebook writes (CSV exports) stay out of the repo
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}).execute()
        return nb

    return run


def test_every_notebook_with_figures_tags_them():
    tagged = {p.name for p in NOTEBOOKS
              if any(TAG in c.get("metadata", {}).get("tags", []) for c in json.loads(p.read_text())["cells"])}
    assert tagged, "no notebook tags a figure cell: the checks below would check nothing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_figures_render_as_images(path, run_notebook, monkeypatch):
    monkeypatch.setenv("HALKIT_FAST", "1")  # the kernel inherits it
    nb = run_notebook(path)
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tagged, image = TAG in cell.metadata.get("tags", []), _shows_image(cell, state)
        first_line = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
        if tagged and not image:
            problems.append(f"cell {index} ({first_line!r}) is tagged {TAG!r} but showed no image")
        if image and not tagged:
            problems.append(f"cell {index} ({first_line!r}) shows an image: tag it {TAG!r}")
        for text in _text_only_figures(cell):
            problems.append(f"cell {index} ({first_line!r}) shows {text!r} instead of the figure")
    assert not problems, f"{path.name}:\n" + "\n".join(problems)
