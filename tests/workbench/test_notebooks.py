"""House rules every notebook follows (issue 6, item 4), checked on the committed files.

Numbered names, an intro saying what you will learn, a parameters cell with a
fast mode chosen by $HALKIT_FAST, and no outputs in git (strip them with
``jupyter nbconvert --clear-output --inplace notebooks/*.ipynb``).
"""
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@pytest.fixture(params=NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def notebook(request):
    return request.param, json.loads(request.param.read_text())


def test_there_are_notebooks():
    assert NOTEBOOKS


def test_numbered_name(notebook):
    path, _ = notebook
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), f"{path.name}: name it NN_topic.ipynb"


def test_outputs_are_stripped(notebook):
    path, nb = notebook
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} carry outputs; run "
                       f"`jupyter nbconvert --clear-output --inplace notebooks/{path.name}`")


def test_intro_says_what_you_will_learn(notebook):
    path, nb = notebook
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown", f"{path.name}: start with a markdown intro"
    text = _source(first)
    assert text.startswith(f"# {path.name[:2]}"), f"{path.name}: the title starts with '# {path.name[:2]}'"
    assert "learn" in text.lower(), f"{path.name}: say what the reader will learn"


def test_parameters_cell_with_fast_mode(notebook):
    path, nb = notebook
    code = [_source(c) for c in nb["cells"] if c["cell_type"] == "code"]
    assert any('os.environ.get("HALKIT_FAST") == "1"' in c for c in code[:3]), \
        f'{path.name}: one of the first code cells sets FAST = os.environ.get("HALKIT_FAST") == "1"'
