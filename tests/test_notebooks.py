"""The paper-reproduction notebooks (``notebooks/NN_*.py``, jupytext percent scripts paired
with ``.ipynb`` files): each executes top to bottom at the reduced CI size, each ``.ipynb``
holds the same cells as its ``.py``, and no notebook uses a private name of ``infoplane``.

Execution: the ``.py`` is converted with jupytext and run with nbclient in a ``python3``
kernel of this interpreter, with ``INFOPLANE_NOTEBOOK_SIZE=small``, outputs under a temporary
``INFOPLANE_NOTEBOOK_OUT``, ``MPLBACKEND=Agg`` and a JAX compilation cache shared by the
notebooks of this session (they compile the same networks and estimators).
"""

from __future__ import annotations

import os
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.py"))
IDS = [p.stem for p in NOTEBOOKS]
CELL_TIMEOUT = 300  # seconds per cell (a small-size notebook takes well under a minute)
#: Public modules a notebook may import from (plus third-party packages).
PUBLIC_MODULES = {"infoplane", "infoplane.estimators", "infoplane.plot", "infoplane.datasets",
                  "infoplane.results"}

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")


def test_notebooks_exist():
    assert len(NOTEBOOKS) == 7, [p.name for p in NOTEBOOKS]


@pytest.fixture(scope="session")
def jax_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("jax-cache")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_executes(path, tmp_path, monkeypatch, jax_cache):
    pytest.importorskip("ipykernel")
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setenv("INFOPLANE_NOTEBOOK_SIZE", "small")
    monkeypatch.setenv("INFOPLANE_NOTEBOOK_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(jax_cache))
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.3")
    # the kernel runs this interpreter (the python3 kernel spec of ipykernel = sys.executable)
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep
                       + os.environ.get("PATH", ""))
    if path.stem.startswith("02_"):  # the var_u.mat cell, on a stand-in with the file's layout
        monkeypatch.setenv("INFOPLANE_VAR_U", _fake_var_u(tmp_path / "var_u.mat"))
    nb = jupytext.read(path)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(NB_DIR)}})
    try:
        client.execute()
    except CellExecutionError as err:
        pytest.fail(f"{path.name} failed in a cell:\n{err}", pytrace=False)
    written = list((tmp_path / "out").rglob("*.png"))
    assert written, f"{path.name} saved no figure under INFOPLANE_NOTEBOOK_OUT"
    assert not list(NB_DIR.glob("output/**/*.tmp"))


def _fake_var_u(path) -> str:
    """A file laid out as the original var_u.mat (F uint8 (4096, 12), y uint8 (1, 4096)), with
    labels of its own (the original is not redistributable)."""
    sio = pytest.importorskip("scipy.io")
    import numpy as np

    f = (np.arange(4096)[:, None] >> np.arange(12)) & 1
    y = (f[:, :6].sum(1) > f[:, 6:].sum(1)).astype(np.uint8)
    sio.savemat(path, {"F": f.astype(np.uint8), "y": y[None, :]})
    return str(path)


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_ipynb_in_sync_with_py(path):
    ipynb = path.with_suffix(".ipynb")
    assert ipynb.exists(), f"missing {ipynb.name}: run `jupytext --to ipynb {path.name}`"
    paired = nbformat.read(ipynb, as_version=4)
    assert _cells(paired) == _cells(jupytext.read(path)), (
        f"{ipynb.name} differs from {path.name}: run `jupytext --sync {path.name}` "
        f"(or `jupytext --to ipynb {path.name}`)"
    )
    with_outputs = [i for i, c in enumerate(paired.cells)
                    if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not with_outputs, f"{ipynb.name}: cells {with_outputs} have outputs; strip them"


_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import\s+(.+)|import\s+([\w.]+))", re.M)
_ATTRIBUTE = re.compile(r"\binfoplane((?:\.\w+)+)")


def _violations(source: str) -> list[str]:
    bad = []
    for m in _IMPORT.finditer(source):
        module = m.group(1) or m.group(3)
        if not module.split(".")[0] == "infoplane":
            continue
        if module not in PUBLIC_MODULES:
            bad.append(f"import from non-public module {module!r}")
        names = re.findall(r"\w+", (m.group(2) or "").split("#")[0])
        bad += [f"private name {n!r} from {module}" for n in names if n.startswith("_")]
    for m in _ATTRIBUTE.finditer(source):
        parts = m.group(1).lstrip(".").split(".")
        if any(p.startswith("_") for p in parts):
            bad.append(f"private attribute infoplane.{'.'.join(parts)}")
    return bad


def test_private_name_check_works():
    assert _violations("from infoplane._api import estimate")
    assert _violations("from infoplane.harness import run_experiment")
    assert _violations("x = infoplane._progress.Progress")
    assert _violations("from infoplane.plot import _select")
    assert not _violations("import infoplane\nfrom infoplane import plot\n"
                           "from infoplane.estimators import KDE, Binning\n"
                           "t = infoplane.results.concat([])")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_uses_public_api_only(path):
    bad = _violations(path.read_text(encoding="utf-8"))
    assert not bad, f"{path.name}: " + "; ".join(bad)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_states_claim_and_result(path):
    text = path.read_text(encoding="utf-8")
    assert "INFOPLANE_NOTEBOOK_SIZE" in text and "INFOPLANE_NOTEBOOK_OUT" in text
    assert "## What our run shows" in text, f"{path.name}: no 'What our run shows' section"
    assert "TO BE FILLED" not in text, f"{path.name}: narrative not written yet"
