"""Each notebook executes once per session.

The test command runs ``pytest tests --nbmake notebooks``: nbmake executes every notebook, and the
figure-render test (test_figures_render.py) reads what that execution produced — outputs and widget
state — instead of executing each notebook a second time (about two minutes of CI). nbmake keeps no
executed notebook, so its one execution step is wrapped to keep it; the render checks are ordered after
the notebooks. Run without ``--nbmake`` (or for a notebook nbmake failed), the render test executes the
notebook itself.
"""
from pathlib import Path

import pytest

_executed: dict[str, object] = {}  # notebook file name -> the notebook as nbmake executed it

try:
    from nbmake.nb_run import NotebookRun
except ImportError:  # nbmake not installed: the render test executes the notebooks itself
    pass
else:
    _execute = NotebookRun.execute

    def _execute_and_keep(self):
        result = _execute(self)
        if result.error is None:
            _executed[Path(self.filename).name] = result.nb
        return result

    NotebookRun.execute = _execute_and_keep


def pytest_collection_modifyitems(config, items):
    render = [item for item in items if item.nodeid.startswith("tests/workbench/test_figures_render.py")]
    if render:
        rest = [item for item in items if item not in set(render)]
        items[:] = rest + render


@pytest.fixture(scope="session")
def executed_notebooks() -> dict:
    return _executed
