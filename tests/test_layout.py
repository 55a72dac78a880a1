"""The package's architecture, checked: which part may import which, module and class sizes,
the public API (unchanged names, same objects behind every public import path), lazy imports,
and tests/ mirroring the parts (README, "Layout")."""

from __future__ import annotations

import ast
import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "infoplane"
#: The parts of the package (folders) and what each may import of infoplane, besides itself.
ALLOWED = {
    "estimators": set(),
    "store": set(),
    "report": {"store"},
    "recording": {"estimators", "store", "report"},
    "experiments": {"estimators", "store", "recording", "report"},
    "dashboard": {"report.tensorboard.format"},
    "cli": {"estimators", "store", "report", "recording", "experiments", "facades"},
}
#: Top-level modules: the flat API and the stable public import paths into the parts.
FACADES = {"__init__", "__main__", "plot", "results", "tensorboard", "datasets"}
MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 250  # without the class docstring

# The public API before the package was cut into parts: these names must stay.
TOP_ALL = ['ActivationStore', 'AdaptiveBinning', 'Binning', 'Compressed', 'DiffusionSpectral',
           'Estimate', 'Estimator', 'Intervals', 'KDE', 'MatrixRenyi', 'NullLabels', 'PRESETS',
           'PerChannel',
           'Probe',
           'Recorder', 'Results',
           'Schedule', 'Subsample', 'activation_stats', 'capture_linen', 'capture_nnx',
           'ceilings', 'check_report', 'compression_summary', 'dpi_violations', 'dse',
           'dsmi', 'estimate',
           'estimate_epochs', 'estimators', 'from_spec', 'knn_entropy', 'ksg_mi',
           'layer_names_linen', 'layer_names_nnx', 'load_aux', 'load_diagnostics',
           'load_failures', 'load_metrics', 'load_results', 'log_spaced_epochs',
           'matrix_entropy', 'matrix_mi', 'prepare',
           'range_violations', 'reestimate', 'run_experiment', 'to_spec', '__version__']
ESTIMATORS_ALL = ['KDE', 'NAMES', 'REGISTRY', 'AdaptiveBinning', 'Binning', 'Compressed',
                  'DiffusionSpectral', 'Estimate', 'Estimator', 'Intervals', 'MatrixRenyi',
                  'NullLabels',
                  'PerChannel',
                  'Probe', 'Subsample',
                  'by_name',
                  'from_spec', 'dse', 'dsmi', 'knn_entropy', 'ksg_mi', 'make_probe',
                  'matrix_entropy', 'matrix_mi', 'split_specs', 'to_spec']
PUBLIC_MODULES = {
    "infoplane.plot": ['Ceilings', 'MARKERS', 'ResultsLike', 'SAVE_FORMATS', 'axis_label',
                       'epoch_norm', 'estimator_panel', 'information_curves',
                       'information_plane', 'load_ceilings', 'render_png', 'save'],
    "infoplane.results": ['ACTIVATIONS_DIR', 'AUX_COLUMNS', 'ActivationStore', 'AuxWriter',
                          'DIAGNOSTIC_COLUMNS', 'DiagnosticsWriter', 'FAILURE_COLUMNS',
                          'FailuresWriter', 'KEY_COLUMNS',
                          'METRIC_COLUMNS', 'MetricsWriter', 'PENDING_DIR', 'RESULTS_FILE',
                          'RESULT_COLUMNS', 'Results', 'ResultsFileWarning', 'ResultsWriter',
                          'concat', 'load_aux', 'load_diagnostics', 'load_failures',
                          'load_metrics',
                          'load_results', 'truncate_results', 'write_json'],
    "infoplane.tensorboard": ['AUX_KEYS', 'DATA_CLASS_TENSOR', 'DIAGNOSTIC_KEYS', 'EventWriter',
                              'FORMAT_VERSION', 'HPARAM_METRICS', 'METRIC_KEYS', 'PLUGIN_NAME',
                              'RESULT_KEYS', 'TensorBoardLogger', 'dashboard_tag',
                              'estimator_label', 'json_safe', 'layer_dir_name',
                              'masked_crc32c'],
    "infoplane.datasets": ['N_BITS', 'TrainTest', 'icosahedron_vertices', 'load_cifar10',
                           'load_digits', 'load_fashion_mnist', 'load_mnist', 'load_mnist1d',
                           'load_npz', 'load_var_u', 'read_idx', 'safe_unpickle',
                           'tishby_dataset', 'tishby_function', 'train_test_split'],
}
PLOT_ALL = ['Ceilings', 'axis_label', 'epoch_norm', 'estimator_panel', 'information_curves',
            'information_plane', 'load_ceilings', 'render_png', 'save']


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        yield path, rel, (rel.parts[0] if len(rel.parts) > 1 else "facades")


def _imports(path: pathlib.Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every import of infoplane in ``path``, at any depth."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names
                    if a.name.split(".")[0] == "infoplane"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "infoplane":
                out.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.ImportFrom) and node.level:
            out.append((node.lineno, "." * node.level + (node.module or ""), []))
    return out


def _target(module: str, names: list[str]) -> list[str]:
    """The parts (or part.submodule paths) that an import reaches."""
    parts = module.split(".")[1:]
    if not parts:  # from infoplane import x, y
        return [("facades" if n not in ALLOWED else n) for n in names]
    if parts[0] not in ALLOWED:
        return ["facades"]
    return [".".join(parts)]


def _allowed(part: str, target: str) -> bool:
    if target.split(".")[0] == part:
        return True
    return any(target == a or target.startswith(a + ".") for a in ALLOWED[part])


def test_parts_import_only_what_they_may():
    bad = []
    for path, rel, part in _modules():
        if part == "facades":
            continue
        for line, module, names in _imports(path):
            if module.startswith("."):
                bad.append(f"{rel}:{line}: relative import {module!r} (use absolute imports)")
                continue
            if module == "infoplane" and names == ["__version__"]:
                continue  # the package's own version
            for target in _target(module, names):
                if not _allowed(part, target):
                    bad.append(f"{rel}:{line}: the {part} part imports {module} "
                               f"({', '.join(names) or 'module'}); it may import "
                               f"{sorted(ALLOWED[part]) or 'nothing else of infoplane'}")
    assert not bad, "\n".join(bad)


def test_protocol_imports_nothing_of_infoplane():
    assert not _imports(PACKAGE / "estimators" / "_base.py")


def test_the_import_check_can_fail(tmp_path):
    assert not _allowed("store", "report.checks")
    assert not _allowed("report", "recording.recorder")
    assert not _allowed("dashboard", "report.figures.plane")
    assert _allowed("dashboard", "report.tensorboard.format")
    assert _allowed("recording", "estimators.apply")
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from infoplane.recording.recorder import Recorder\n")
    assert _target(*_imports(bad)[0][1:]) == ["recording.recorder"]


def _class_lines(node: ast.ClassDef) -> int:
    n = node.end_lineno - node.lineno + 1
    first = node.body[0] if node.body else None
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        n -= first.end_lineno - first.lineno + 1
    return n


def test_module_and_class_sizes():
    bad = []
    for path, rel, _part in _modules():
        text = path.read_text(encoding="utf-8")
        n = text.count("\n")
        if n > MAX_MODULE_LINES:
            bad.append(f"{rel}: {n} lines (at most {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and _class_lines(node) > MAX_CLASS_LINES:
                bad.append(f"{rel}: class {node.name} has {_class_lines(node)} lines without "
                           f"its docstring (at most {MAX_CLASS_LINES})")
    assert not bad, "\n".join(bad)


def test_every_part_documents_what_it_owns_and_may_import():
    for part in ALLOWED:
        init = PACKAGE / part / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc, f"{part}/__init__.py has no docstring"
        if part not in ("dashboard",):
            assert "May import" in doc, f"{part}/__init__.py does not say what it may import"
    for path, rel, _part in _modules():
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        assert doc, f"{rel} has no module docstring"


def test_tests_mirror_the_parts():
    for part in ALLOWED:
        folder = ROOT / "tests" / part
        assert (folder / "__init__.py").is_file(), f"tests/{part}/ is missing"
        assert list(folder.glob("test_*.py")), f"tests/{part}/ has no tests"


def test_public_api_unchanged():
    import infoplane
    import infoplane.estimators
    import infoplane.plot

    assert infoplane.__all__ == TOP_ALL
    assert infoplane.estimators.__all__ == ESTIMATORS_ALL
    assert infoplane.plot.__all__ == PLOT_ALL
    for name in TOP_ALL:
        assert getattr(infoplane, name) is not None, name
    for name in ESTIMATORS_ALL:
        assert hasattr(infoplane.estimators, name), name


@pytest.mark.parametrize("module", sorted(PUBLIC_MODULES))
def test_public_modules_keep_their_names(module):
    import importlib

    mod = importlib.import_module(module)
    missing = [n for n in PUBLIC_MODULES[module] if not hasattr(mod, n)]
    assert not missing, f"{module} lost {missing}"
    for name in getattr(mod, "__all__", []):
        assert hasattr(mod, name), f"{module}.__all__ names {name!r}, which is missing"


def test_public_paths_are_the_same_objects():
    import infoplane
    import infoplane.plot
    import infoplane.results
    import infoplane.tensorboard
    from infoplane.recording.recorder import Recorder
    from infoplane.report.figures.plane import information_plane
    from infoplane.report.tensorboard.logger import TensorBoardLogger
    from infoplane.store.results import Results, load_results

    assert infoplane.Recorder is Recorder
    assert infoplane.Results is Results is infoplane.results.Results
    assert infoplane.load_results is load_results is infoplane.results.load_results
    assert infoplane.plot.information_plane is information_plane
    assert infoplane.tensorboard.TensorBoardLogger is TensorBoardLogger
    assert infoplane.results.concat([]).rows() == []


_LAZY = """
import json, sys
import infoplane
import infoplane.dashboard.plugin
import infoplane.store.results, infoplane.store.tables, infoplane.report.checks
heavy = sorted(m for m in ("jax", "flax", "optax", "matplotlib") if m in sys.modules)
print(json.dumps(heavy))
"""


def test_import_is_lazy():
    """TensorBoard loading the plugin, and reading a run's tables, import no JAX, flax, optax
    or matplotlib."""
    out = subprocess.run([sys.executable, "-c", _LAZY], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
