"""matrix_renyi end to end, on one small run reused by every test: `infoplane run` on the
default tishby preset (1 epoch, 2 recorded, a 128-sample subsample to keep it fast) writes its
rows, aux values and printed checks; `infoplane estimate` adds a second parameter set
(``label_kernel=linear``); `infoplane plot` draws either; TensorBoard's scalar route and the
"Information plane" tab (real TensorBoard on 127.0.0.1, real headless Chromium) show both."""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest

import infoplane
from infoplane import cli
from infoplane.cli._common import _printable, print_table
from infoplane.report.tensorboard.format import sha6
from tests.dashboard.test_dashboard import Board
from tests.dashboard.test_dashboard_browser import (  # noqa: F401 - fixtures
    assert_no_js_errors,
    driver,
    save_screenshot,
    trajectories,
    wait,
    webdriver_mod,
)

N_SUB = 128  # log2 128 = 7 bits: the ceiling of every estimate
LAYERS = tuple(f"layers.{i}" for i in range(5)) + ("output",)
EPOCHS = [0, 1]
LINEAR = "matrix_renyi(label_kernel=linear)"


def _main(argv) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main(argv)
    return rc, out.getvalue()


@pytest.fixture(scope="module")
def renyi_run(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("renyi")
    rc, run_out = _main(["run", "--epochs", "1", "--points", "2", "--estimators",
                         "matrix_renyi", "--subsample", str(N_SUB), "--store-activations",
                         "--logdir", str(logdir), "--name", "r"])
    assert rc == 0, run_out
    d = logdir / "r"
    rc, est_out = _main(["estimate", str(d), "--estimators", LINEAR, "--subsample", str(N_SUB)])
    assert rc == 0, est_out
    return logdir, d, run_out, est_out


def _kernel(row) -> str:
    return json.loads(row["params"])["label_kernel"]


def _direct(d, epoch, layer, **kw):
    store = infoplane.ActivationStore(d)
    x, y = store.read_probe("all")
    t = store.read(0, "all", epoch)[layer]
    est = infoplane.Subsample(infoplane.MatrixRenyi(**kw), N_SUB)
    return infoplane.estimate(est, x, t, y)


def test_run_writes_matrix_renyi_rows_in_range(renyi_run):
    _, d, out, _ = renyi_run
    res = infoplane.load_results(d)
    rows = [r for r in res.rows() if _kernel(r) == "gaussian"]
    assert sorted((r["epoch"], r["layer"]) for r in rows) == sorted(
        (e, la) for e in EPOCHS for la in LAYERS)
    h_y = json.loads((d / "config.json").read_text())["probes"]["all"]["h_y_bits"]
    for r in rows:
        params = json.loads(r["params"])
        assert params["alpha"] == 1.01 and params["subsample"] == N_SUB
        assert r["estimator"] == "matrix_renyi" and r["units"] == "bits"
        for q in ("i_xt", "i_ty"):
            assert math.isfinite(r[q]) and -1e-5 <= r[q] <= math.log2(N_SUB) + 1e-5, r
        assert r["i_ty"] <= h_y + 1e-4  # alpha >= 1: S_alpha(Y) <= H(Y)
    aux = {}
    for a in infoplane.load_aux(d):
        if json.loads(a["params"])["label_kernel"] == "gaussian":
            aux.setdefault((a["epoch"], a["layer"]), {})[a["name"]] = a["value"]
    names = {"s_t", "s_x", "s_y", "s_xt", "s_ty", "sigma_t", "sigma_x", "stderr_xt",
             "stderr_ty"}
    for r in rows:
        a = aux[(r["epoch"], r["layer"])]
        assert names <= set(a), a
        assert r["i_xt"] == pytest.approx(a["s_x"] + a["s_t"] - a["s_xt"], abs=1e-4)
        assert r["i_xt"] <= min(a["s_x"], a["s_t"]) + 1e-4
        assert a["stderr_xt"] == 0.0 and a["sigma_t"] > 0  # exact mode at n = 128
    row = next(r for r in rows if (r["epoch"], r["layer"]) == (1, "layers.1"))
    want = _direct(d, 1, "layers.1")
    assert row["i_xt"] == pytest.approx(float(want.i_xt), abs=1e-5)
    assert row["i_ty"] == pytest.approx(float(want.i_ty), abs=1e-5)
    assert "matrix_renyi (all, seed 0): I_α(X;T)/I_α(T;Y) in bits, α=1.01" in out
    assert "DPI not checked: matrix_renyi (" in out and "its range is checked below" in out
    assert "range check: every estimate of matrix_renyi lies in [0, its ceiling]" in out
    assert "every Shannon estimate" not in out and "DPI check:" not in out


def test_estimate_adds_the_linear_label_kernel_rows(renyi_run):
    _, d, _, out = renyi_run
    rows = [r for r in infoplane.load_results(d).rows() if _kernel(r) == "linear"]
    assert len(rows) == len(EPOCHS) * len(LAYERS) and f"appended {len(rows)} rows" in out
    row = next(r for r in rows if (r["epoch"], r["layer"]) == (0, "output"))
    want = _direct(d, 0, "output", label_kernel="linear")
    assert row["i_xt"] == pytest.approx(float(want.i_xt), abs=1e-5)
    assert row["i_ty"] == pytest.approx(float(want.i_ty), abs=1e-5)
    assert all(-1e-5 <= r[q] <= math.log2(N_SUB) + 1e-5 for r in rows for q in ("i_xt", "i_ty"))


def test_plot_draws_a_run_holding_matrix_renyi(renyi_run, tmp_path):
    _, d, _, _ = renyi_run
    for kind, params in (("plane", "label_kernel=linear"), ("curves", "label_kernel=gaussian")):
        target = tmp_path / f"{kind}.png"
        rc, out = _main(["plot", str(d), "--kind", kind, "--estimator", "matrix_renyi",
                         "--params", params, "-o", str(target)])
        assert rc == 0, out
        assert target.stat().st_size > 10_000 and target.read_bytes()[:4] == b"\x89PNG"
        assert "DPI not checked: matrix_renyi" in out
    rc, out = _main(["plot", str(d), "--params", "label_kernel=linear"])  # default file name
    assert rc == 0 and (d / "figures" / "plane-matrix_renyi-label_kernel=linear.png").is_file()
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert _main(["plot", str(d), "-o", str(tmp_path / "x.png")])[0] == 2  # two sets
        assert _main(["plot", str(d), "--params", "label_kernel"])[0] == 2
    assert "2 parameter sets" in err.getvalue() and "--params KEY=VALUE" in err.getvalue()
    assert "is not key=value" in err.getvalue()


def test_console_table_names_alpha_and_falls_back_to_ascii():
    rows = [dict(run="r", seed=0, split="all", epoch=0, layer="l", estimator="matrix_renyi",
                 i_xt=1.0, i_ty=0.5, units="bits", params=json.dumps({"alpha": 2.0}))]
    out = io.StringIO()
    print_table(rows, ["l"], out)
    assert "matrix_renyi (all, seed 0): I_α(X;T)/I_α(T;Y) in bits, α=2" in out.getvalue()

    class Latin1(io.StringIO):
        encoding = "latin-1"

    assert _printable("I_α(X;T), α=2 é", Latin1()) == "I_alpha(X;T), alpha=2 e"
    assert _printable("I_α(X;T)", io.StringIO()) == "I_α(X;T)"


# ---- TensorBoard and the dashboard -------------------------------------------------------------


@pytest.fixture(scope="module")
def board(renyi_run):
    logdir, d, _, _ = renyi_run
    linear = f"matrix_renyi-{sha6(next(r['params'] for r in infoplane.load_results(d).rows() if _kernel(r) == 'linear'))}"  # noqa: E501
    b = Board(logdir)
    try:
        b.wait_for(lambda p: {(s["label"], s["n_epochs"]) for r in p["runs"]
                              for s in r["series"]} == {("matrix_renyi", 2), (linear, 2)})
        yield b, linear
    finally:
        b.close()


def test_tensorboard_scalars_and_dashboard_routes(board, renyi_run):
    b, linear = board
    _, d, _, _ = renyi_run
    rows = infoplane.load_results(d).rows()
    for label, kernel in (("matrix_renyi", "gaussian"), (linear, "linear")):
        want = {r["epoch"]: r["i_xt"] for r in rows
                if r["layer"] == "layers.1" and _kernel(r) == kernel}
        status, got = b.json("/data/plugin/scalars/scalars?run=r/tb/seed0/layers.1&tag="
                             f"{label}/I_XT/all")
        assert status == 200, got
        assert [int(step) for _wall, step, _v in got] == EPOCHS  # each set in its own tags
        for _wall, step, v in got:
            assert v == pytest.approx(want[int(step)], rel=1e-6, abs=1e-6)
    status, payload = b.json("/data/plugin/infoplane/runs")
    [run] = payload["runs"]
    series = {s["label"]: s for s in run["series"]}
    s = series["matrix_renyi"]
    assert s["estimator"] == "matrix_renyi" and s["title"] == "matrix Rényi"
    assert s["names"] == {"i_xt": "matrix-Rényi I_α(X;T), α=1.01",
                          "i_ty": "matrix-Rényi I_α(T;Y), α=1.01"}
    h_y = json.loads((d / "config.json").read_text())["probes"]["all"]["h_y_bits"]
    assert s["ceilings"] == {"i_xt": pytest.approx(math.log2(N_SUB)), "i_ty": pytest.approx(h_y)}
    assert s["ceiling_names"] == {"i_xt": f"log2 {N_SUB}", "i_ty": "H(Y)"}
    assert series[linear]["params"]["label_kernel"] == "linear"


def test_information_plane_tab_lists_matrix_renyi(driver, board, tmp_path):  # noqa: F811
    """The tab in a real headless Chromium: matrix_renyi (and its second parameter set) in the
    estimator list, one trajectory per layer, the matrix-Rényi axis names and the ceilings
    log2 128 and H(Y)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    b, linear = board
    driver.get(b.url + "/#infoplane")
    frame = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "iframe"), "the iframe")
    driver.switch_to.frame(frame[0])
    wait(driver, lambda d: len(trajectories(d)) == len(LAYERS), "the trajectories")
    select = Select(driver.find_element(By.ID, "label-select"))
    assert [o.get_attribute("value") for o in select.options] == ["matrix_renyi", linear]
    # readable labels: the name and the parameters that differ between the two sets
    assert select.first_selected_option.text.startswith("matrix_renyi(label_kernel="), [
        o.text for o in select.options]
    xlab = driver.find_element(By.ID, "x-label").text
    ylab = driver.find_element(By.ID, "y-label").text
    assert xlab == "matrix-Rényi I_α(X;T), α=1.01 [bits] — matrix_renyi, all", xlab
    assert ylab.startswith("matrix-Rényi I_α(T;Y), α=1.01 [bits]"), ylab
    ceilings = sorted(e.text for e in driver.find_elements(By.CSS_SELECTOR,
                                                           "#plot .ceiling-label"))
    assert len(ceilings) == 2 and ceilings[0].startswith("H(Y) = ")
    assert ceilings[1] == f"log2 {N_SUB} = 7 bits", ceilings
    params = driver.find_element(By.CSS_SELECTOR, ".ip-param-row").text
    assert "matrix_renyi · matrix Rényi" in params and "alpha=1.01" in params
    save_screenshot(driver, tmp_path, "dashboard-matrix-renyi.png")
    select.select_by_value(linear)
    wait(driver, lambda d: "label_kernel=linear" in d.find_element(
        By.CSS_SELECTOR, ".ip-param-row").text, "the linear parameter set")
    assert len(trajectories(driver)) == len(LAYERS)
    assert_no_js_errors(driver)
