"""The dashboard in a real headless Chromium (selenium + Debian's chromium/chromedriver).

Opens TensorBoard's "Information plane" tab (the plugin runs in an iframe) and the stand-alone
page, checks the drawing (one trajectory per layer and run, markers that move with the epoch
slider, a tooltip naming the layer, distinct styles per run) and saves screenshots to
``tmp_path`` and to ``$INFOPLANE_ARTIFACTS`` (default ``tests/artifacts/``, not committed).
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from pathlib import Path

import pytest

from tests.dashboard.test_dashboard import (
    FIXTURE_RUNS,
    LAYERS,
    N_EPOCHS,
    Board,
    fully_loaded,
    make_logdir,
    write_scalar_run,
)

CHROMIUM = os.environ.get("INFOPLANE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("INFOPLANE_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("INFOPLANE_ARTIFACTS",
                                Path(__file__).resolve().parents[1] / "artifacts"))
TIMEOUT = 30


def _skip_loudly(why: str):
    msg = (f"BROWSER TESTS NOT RUN: {why}. Install Debian's `chromium` and `chromium-driver` "
           "(apt-get install chromium chromium-driver) and `pip install selenium`, or set "
           "INFOPLANE_CHROMIUM / INFOPLANE_CHROMEDRIVER.")
    warnings.warn(msg, stacklevel=2)
    print("\n" + "!" * 20 + " " + msg + " " + "!" * 20)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def webdriver_mod():
    try:
        from selenium import webdriver
    except ImportError:
        _skip_loudly("selenium is not installed")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            _skip_loudly(f"{path} is missing")
    return webdriver


@pytest.fixture
def driver(webdriver_mod, tmp_path):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1400,950", "--hide-scrollbars",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        opts.add_argument(flag)
    # An explicit driver path: Selenium Manager never runs (no network).
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "driver.log"))
    drv = webdriver_mod.Chrome(service=service, options=opts)
    drv.set_page_load_timeout(TIMEOUT)
    try:
        yield drv
    finally:
        drv.quit()


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = make_logdir(tmp_path_factory.mktemp("tbb") / "logs")
    b = Board(root)
    try:
        b.wait_for(fully_loaded)
        yield b
    finally:
        b.close()


def wait(drv, cond, what: str, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond(drv)
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def save_screenshot(drv, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    drv.save_screenshot(str(path))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, ARTIFACTS / name)
    return path


def trajectories(drv):
    return drv.execute_script("""
        return [...document.querySelectorAll('#plot .trajectory')].map(g => ({
            run: g.dataset.run, layer: g.dataset.layer, shape: g.dataset.shape,
            dash: g.dataset.dash, points: g.querySelectorAll('.point').length,
            marker: g.querySelector('.marker').getAttribute('transform')}));
    """)


def markers(drv):
    return drv.execute_script(
        "return [...document.querySelectorAll('#plot .marker')]"
        ".map(m => [m.getAttribute('data-x'), m.getAttribute('data-y'), m.dataset.epoch]);")


def assert_no_js_errors(drv):
    """No uncaught errors or failed loads from our page (TensorBoard's own noise is ignored)."""
    bad = [e for e in drv.get_log("browser") if e["level"] == "SEVERE"
           and "favicon.ico" not in e["message"]
           and ("infoplane" in e["message"] or "Uncaught" in e["message"])]
    assert not bad, bad


def set_slider(drv, value: int):
    drv.execute_script("""
        const s = document.getElementById('epoch-slider');
        s.value = String(arguments[0]);
        s.dispatchEvent(new Event('input', {bubbles: true}));
    """, value)


def check_dashboard(drv, tmp_path: Path, shot: str):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    n_runs = len(FIXTURE_RUNS)
    wait(drv, lambda d: len(trajectories(d)) == n_runs * len(LAYERS), "the trajectories")
    trs = trajectories(drv)
    # exactly one trajectory per layer and run, each with every epoch
    assert sorted((t["run"], t["layer"]) for t in trs) == sorted(
        (r, la) for r in FIXTURE_RUNS for la in LAYERS)
    assert all(t["points"] == N_EPOCHS for t in trs), trs
    # the two runs are drawn in distinct styles, and the legend names both
    styles = {t["run"]: (t["shape"], t["dash"]) for t in trs}
    assert len(set(styles.values())) == n_runs, styles
    legend = drv.find_element(By.ID, "legend").text
    assert all(run in legend for run in FIXTURE_RUNS), legend
    # axis labels name estimator and unit; ceilings are drawn
    xlab = drv.find_element(By.ID, "x-label").text
    assert "I(X;T)" in xlab and "bits" in xlab and "binning" in xlab, xlab
    assert len(drv.find_elements(By.CSS_SELECTOR, "#plot .ceiling")) == 2
    assert drv.find_element(By.ID, "colorbar")
    # the slider moves every marker
    slider = drv.find_element(By.ID, "epoch-slider")
    assert slider.get_attribute("max") == str(N_EPOCHS - 1)
    at_end = markers(drv)
    assert len(at_end) == n_runs * len(LAYERS)
    assert all(m[2] == str(N_EPOCHS - 1) for m in at_end)
    set_slider(drv, 5)
    at_5 = markers(drv)
    assert all(m[2] == "5" for m in at_5)
    assert all(a[:2] != b[:2] for a, b in zip(at_end, at_5, strict=True)), (at_end, at_5)
    assert "epoch 5" in drv.find_element(By.ID, "epoch-label").text
    # hovering a point shows the tooltip with its layer, run, epoch and values
    point = drv.find_element(
        By.CSS_SELECTOR, '#plot .trajectory[data-run="tanh"][data-layer="dense2"] '
                         '.point[data-epoch="40"]')
    ActionChains(drv).move_to_element(point).perform()
    tip = drv.find_element(By.ID, "tooltip")
    wait(drv, lambda d: tip.is_displayed(), "the tooltip")
    text = tip.text
    for want in ["dense2", "tanh", "40", "I(X;T)", "I(T;Y)", "bits", "n_bins=30"]:
        assert want in text, (want, text)
    save_screenshot(drv, tmp_path, shot)
    # play runs through the epochs
    drv.find_element(By.ID, "play").click()
    wait(drv, lambda d: d.execute_script(
        "return document.getElementById('epoch-slider').value") not in ("5", "0"), "playing")
    drv.find_element(By.ID, "play").click()
    assert_no_js_errors(drv)


def test_tensorboard_tab(driver, board, tmp_path):
    from selenium.webdriver.common.by import By

    driver.get(board.url + "/#infoplane")
    frame = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "iframe"), "the plugin iframe")
    driver.switch_to.frame(frame[0])
    check_dashboard(driver, tmp_path, "dashboard-in-tensorboard.png")
    driver.switch_to.default_content()
    save_screenshot(driver, tmp_path, "dashboard.png")


def test_static_page_and_selection(driver, board, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(board.url + "/data/plugin/infoplane/static/index.html")
    check_dashboard(driver, tmp_path, "dashboard-page.png")
    # one seed: still one trajectory per layer and run
    Select(driver.find_element(By.ID, "seed-select")).select_by_value("1")
    wait(driver, lambda d: "seed 1" in d.find_element(By.ID, "legend").text, "seed 1 legend")
    assert len(trajectories(driver)) == len(FIXTURE_RUNS) * len(LAYERS)
    # another estimator: only the tanh run has kde
    Select(driver.find_element(By.ID, "label-select")).select_by_visible_text("kde")
    wait(driver, lambda d: {t["run"] for t in trajectories(d)} == {"tanh"}, "kde trajectories")
    assert len(trajectories(driver)) == len(LAYERS)
    # the user's selection survives a poll (5 s)
    set_slider(driver, 3)
    time.sleep(5.5)
    assert Select(driver.find_element(By.ID, "label-select")).first_selected_option.text == "kde"
    assert driver.find_element(By.ID, "epoch-slider").get_attribute("value") == "3"
    # a run can be hidden
    Select(driver.find_element(By.ID, "label-select")).select_by_value("binning")
    driver.find_element(By.CSS_SELECTOR, '#run-list input[data-run="relu"]').click()
    wait(driver, lambda d: {t["run"] for t in trajectories(d)} == {"tanh"}, "relu hidden")


def test_empty_state(driver, tmp_path):
    from selenium.webdriver.common.by import By

    root = tmp_path / "logs"
    write_scalar_run(root / "scalars")
    b = Board(root, "--load_fast=false")
    try:
        driver.get(b.url + "/data/plugin/infoplane/static/index.html")
        empty = wait(driver, lambda d: d.find_element(By.ID, "empty").is_displayed()
                     and d.find_element(By.ID, "empty"), "the empty state")
        assert "infoplane.Recorder" in empty.text and "infoplane run" in empty.text
        save_screenshot(driver, tmp_path, "dashboard-empty.png")
    finally:
        b.close()


def test_live_update_keeps_selection(driver, tmp_path):
    """Epochs written while the page is open appear; the user's seed and epoch stay put."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from tests.dashboard.test_dashboard import series_values, write_series

    root = tmp_path / "logs"
    vals = {s: series_values("live", "binning", "train", s, 50) for s in (0, 1)}
    for s in (0, 1):
        write_series(root / "live", "live", "binning", "train", s, range(20), vals[s][:20])
    b = Board(root)
    try:
        b.wait_for(lambda p: p["runs"] and all(
            s["n_epochs"] == 20 for s in p["runs"][0]["series"]))
        driver.get(b.url + "/data/plugin/infoplane/static/index.html")
        wait(driver, lambda d: len(trajectories(d)) == len(LAYERS), "the trajectories")
        Select(driver.find_element(By.ID, "seed-select")).select_by_value("1")
        wait(driver, lambda d: "seed 1" in d.find_element(By.ID, "legend").text, "seed 1")
        set_slider(driver, 5)
        for s in (0, 1):
            write_series(root / "live", "live", "binning", "train", s, range(20, 50),
                         vals[s][20:])
        wait(driver, lambda d: all(t["points"] == 50 for t in trajectories(d)), "new epochs")
        assert Select(driver.find_element(By.ID, "seed-select")).first_selected_option \
            .get_attribute("value") == "1"
        assert driver.find_element(By.ID, "epoch-slider").get_attribute("max") == "49"
        assert all(m[2] == "5" for m in markers(driver))
        assert_no_js_errors(driver)
    finally:
        b.close()


def test_nonfinite_points_are_counted_on_the_page(driver, tmp_path):
    """NaN / +-inf estimates (null in /points, flagged in "nonfinite") are not drawn, and the
    page says how many and of which kind, instead of dropping them silently."""
    import numpy as np
    from selenium.webdriver.common.by import By

    from tests.dashboard.test_dashboard import write_series

    root = tmp_path / "logs"
    v = np.linspace(0.1, 3.0, 6 * len(LAYERS) * 2).reshape(6, len(LAYERS), 2)
    v[1, 0, 0], v[2, 2, 1], v[4, 1, 0] = -np.inf, np.inf, np.nan
    write_series(root / "nf", "nf", "kde", "train", 0, range(6), v)
    b = Board(root, "--load_fast=false")
    try:
        b.wait_for(lambda p: p["runs"] and p["runs"][0]["series"][0]["n_epochs"] == 6)
        driver.get(b.url + "/data/plugin/infoplane/static/index.html")
        wait(driver, lambda d: len(trajectories(d)) == len(LAYERS), "the trajectories")
        assert sum(t["points"] for t in trajectories(driver)) == 6 * len(LAYERS) - 3
        note = wait(driver, lambda d: d.find_element(By.ID, "nonfinite-note").is_displayed()
                    and d.find_element(By.ID, "nonfinite-note"), "the non-finite note")
        assert note.get_attribute("data-count") == "3"
        assert "3 non-finite point(s) not drawn (-inf, inf, nan)" in note.text, note.text
        save_screenshot(driver, tmp_path, "dashboard-nonfinite.png")
        assert_no_js_errors(driver)
    finally:
        b.close()


def test_format2_instances_intervals_log_colours_export_dsmi(driver, tmp_path):
    """A logdir the logger wrote (format 2), in one page: the estimator list has both binning
    parameter sets (readable labels) and selects the first recorded (kde, not the
    alphabetically first); kde's intervals are error bars, its null a band per layer; the
    log-spaced epochs get a log colour bar with ticks; the negative and over-ceiling points
    and the DPI violation are marked; the export buttons give SVG and CSV; DSMI's axes read
    DSMI(X;T), DSMI(T;Y), never I(·;·)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from tests.dashboard.test_dashboard import V2_EPOCHS, V2_LAYERS, make_v2_logdir, v2_loaded

    b = Board(make_v2_logdir(tmp_path / "logs"), "--load_fast=false")
    try:
        b.wait_for(v2_loaded)
        driver.get(b.url + "/data/plugin/infoplane/static/index.html")
        wait(driver, lambda d: len(trajectories(d)) == len(V2_LAYERS), "the trajectories")
        select = Select(driver.find_element(By.ID, "label-select"))
        texts = [o.text for o in select.options]
        assert texts == ["kde", "binning(n_bins=8)", "binning(n_bins=30)", "dsmi"], texts
        assert select.first_selected_option.text == "kde"
        assert {t["run"] for t in trajectories(driver)} == {"plane"}
        js = "return document.querySelectorAll(arguments[0]).length"
        assert driver.execute_script(js, "#plot .errorbar") == len(V2_LAYERS)
        assert driver.execute_script(js, "#plot .null-band") == len(V2_LAYERS)
        assert driver.execute_script(js, "#plot .forbidden") >= 2  # below 0, above H(Y)
        bad = driver.execute_script(
            "return [...document.querySelectorAll('#plot .point.violation')]"
            ".map(p => [p.dataset.epoch, p.dataset.violation])")
        assert sorted(bad) == [["2", "I(X;T) below 0"], ["3", "I(T;Y) above H(Y)"]], bad
        dpi = driver.execute_script(
            "return [...document.querySelectorAll('#plot .dpi-mark')]"
            ".map(m => [m.parentNode.dataset.layer, m.dataset.epoch])")
        # l2 above l1: at epoch 5 (I(X;T) 5.5), and at 2 where l1's I(X;T) is -0.2
        assert sorted(dpi) == [["l2", "2"], ["l2", "5"]], dpi
        cb = driver.find_element(By.ID, "colorbar")
        assert cb.get_attribute("data-scale") == "log"
        ticks = [e.get_attribute("data-value")
                 for e in driver.find_elements(By.CSS_SELECTOR, "#colorbar .cb-tick")]
        assert ticks == ["0", "1", "10", "100", "233"], ticks
        save_screenshot(driver, tmp_path, "dashboard-format2.png")
        svg = driver.execute_script(
            "document.getElementById('export-svg').click();"
            "return document.getElementById('infoplane-app').infoplane.lastExport.text")
        assert svg.startswith("<?xml") and "<svg" in svg and 'class="errorbar"' in svg
        assert "<style>" in svg and ".forbidden" in svg
        csv_text = driver.execute_script(
            "document.getElementById('export-csv').click();"
            "return document.getElementById('infoplane-app').infoplane.lastExport.text")
        lines = csv_text.strip().splitlines()
        assert lines[0] == ("run,seed,split,epoch,layer,estimator,params,i_xt,i_ty,i_xt_lo,"
                            "i_xt_hi,i_ty_lo,i_ty_hi,i_ty_null")
        assert len(lines) == 1 + len(V2_EPOCHS) * len(V2_LAYERS)
        assert lines[1].startswith("plane,0,train,0,l1,kde,")
        # the second binning set alone: no intervals, a linear-free log bar all the same
        select.select_by_visible_text("binning(n_bins=8)")
        wait(driver, lambda d: "n_bins=8" in d.find_element(By.ID, "params").text, "n_bins=8")
        assert "n_bins=30" not in driver.find_element(By.ID, "params").text  # never mixed
        assert driver.execute_script(js, "#plot .errorbar") == 0
        Select(driver.find_element(By.ID, "label-select")).select_by_visible_text("dsmi")
        wait(driver, lambda d: {t["run"] for t in trajectories(d)} == {"spectral"}, "dsmi")
        xlab = driver.find_element(By.ID, "x-label").text
        ylab = driver.find_element(By.ID, "y-label").text
        assert xlab.startswith("DSMI(X;T) [bits of DSE, not Shannon MI]"), xlab
        assert ylab.startswith("DSMI(T;Y) ["), ylab
        assert "I(X;T)" not in xlab.replace("DSMI(X;T)", "")
        assert driver.find_element(By.ID, "colorbar").get_attribute("data-scale") == "linear"
        assert driver.execute_script(js, "#plot .dpi-mark") == 0
        assert_no_js_errors(driver)
    finally:
        b.close()
