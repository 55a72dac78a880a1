"""The dashboard never answers 500: a real TensorBoard (127.0.0.1) fed hostile requests.

Static names outside the shipped files (too long for the file system, traversal, odd bytes)
answer 404; bad query strings of every data route (unknown run, bad or huge parameters,
non-UTF-8 bytes) answer 400 with a JSON message; non-finite values arrive as null, each
flagged in the series' ``nonfinite`` list. Hypothesis draws the requests.
"""

from __future__ import annotations

import json
import urllib.parse

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infoplane.dashboard import plugin as dash
from tests.dashboard.test_dashboard import LAYERS, Board, points_query, write_series

N_EPOCHS = 6
ROUTES = ("/data/plugin/infoplane/points", "/data/plugin/infoplane/runs",
          "/data/plugin/infoplane/tags", "/data/plugin/infoplane/index.js")


def _values() -> np.ndarray:
    v = np.linspace(0.1, 3.0, N_EPOCHS * len(LAYERS) * 2).reshape(N_EPOCHS, len(LAYERS), 2)
    v[1, 0, 0] = -np.inf
    v[2, 2, 1] = np.inf
    v[4, 1, 0] = np.nan
    return v


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz") / "logs"
    write_series(root / "nf", "nf", "kde", "train", 0, range(N_EPOCHS), _values())
    b = Board(root, "--load_fast=false")
    try:
        b.wait_for(lambda p: p["runs"] and p["runs"][0]["series"][0]["n_epochs"] == N_EPOCHS)
        yield b
    finally:
        b.close()


def _no_traceback(body: bytes) -> None:
    assert b"Traceback" not in body and b'File "' not in body, body[:400]


def test_static_allow_list_is_the_shipped_files():
    shipped = {"app.js", "index.html", "index.js", "main.js", "plane.js", "style.css"}
    assert set(dash._STATIC_FILES) == shipped
    assert dash.static_file("x" * 300 + ".js") is None  # never reaches the file system


@pytest.mark.parametrize("name", ["a" * 256, "a" * 300 + ".js", "%C3%A9" * 200, "b" * 5000])
def test_static_name_too_long_is_404_not_500(board, name):
    status, ctype, body = board.get(f"/data/plugin/infoplane/static/{name}")
    assert status == 404, (status, body[:300])
    assert ctype.startswith("application/json") and "no such static file" in json.loads(body)[
        "error"]
    _no_traceback(body)


def test_nonfinite_values_are_null_and_flagged(board):
    status, p = board.json(points_query(run="nf", label="kde", split="train"))
    assert status == 200
    (s,) = p["series"]
    assert s["i_xt"][1][0] is None and s["i_ty"][2][2] is None and s["i_xt"][4][1] is None
    assert s["nonfinite"] == [[1, 0, "i_xt", "-inf"], [2, 2, "i_ty", "inf"],
                              [4, 1, "i_xt", "nan"]]
    assert s["i_xt"][0][0] == pytest.approx(0.1)


@pytest.mark.parametrize("query", [
    "run=nf&label=kde&split=train&seed=" + "9" * 5000,
    "run=" + "x" * 5000 + "&label=kde&split=train",
    "run=%ff%fe&label=kde&split=train",
    "run=nf&label=%c3%28&split=train",
    "run=nf&label=kde&split=train&seed=%00",
    "run=nf&label=kde&split=train&seed=1e400",
    "run=nf&label=kde&split=train&seed=99999999999999999999",
    "run&label&split",
    "%zz=1&run=nf",
    "run=nf&label=kde&split=train&seed=0&seed=1",
])
def test_bad_points_queries_answer_400(board, query):
    status, ctype, body = board.get(f"/data/plugin/infoplane/points?{query}")
    assert status == 400, (query[:80], status, body[:300])
    assert ctype.startswith("application/json") and json.loads(body)["error"]
    _no_traceback(body)


_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
                max_size=40)
_RAW = st.binary(max_size=40).map(lambda b: urllib.parse.quote_from_bytes(b, safe=""))
_VALUE = st.one_of(_TEXT.map(lambda t: urllib.parse.quote(t, safe="")), _RAW,
                   st.sampled_from(["nf", "kde", "train", "0", "all", "-1", "9" * 30]),
                   st.integers(min_value=300, max_value=3000).map(lambda n: "y" * n))
_KEY = st.one_of(st.sampled_from(["run", "label", "split", "seed", "tag"]), _RAW)


def test_a_uri_too_long_for_the_server_is_414_not_500(board):
    status, _, body = board.get(points_query(run="x" * 100_000, label="kde", split="train"))
    assert status == 414  # refused by the HTTP server before the plugin sees it
    _no_traceback(body)


@settings(derandomize=True, max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES),
       pairs=st.lists(st.tuples(_KEY, _VALUE), max_size=5))
def test_fuzz_query_strings_never_500(board, route, pairs):
    query = "&".join(f"{k}={v}" for k, v in pairs)
    status, ctype, body = board.get(f"{route}?{query}")
    assert status in (200, 400), (route, query[:200], status, body[:300])
    if route != "/data/plugin/infoplane/index.js":
        payload = json.loads(body)
        if status == 400:
            assert isinstance(payload["error"], str) and payload["error"]
    _no_traceback(body)


@settings(derandomize=True, max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.one_of(_RAW, _TEXT.map(lambda t: urllib.parse.quote(t, safe="")),
                      st.integers(min_value=200, max_value=2000).map(lambda n: "z" * n)))
def test_fuzz_static_names_never_500(board, name):
    status, _, body = board.get(f"/data/plugin/infoplane/static/{name}")
    if urllib.parse.unquote(name) in dash._STATIC_FILES:
        assert status == 200
    else:
        assert status in (400, 404), (name[:200], status, body[:300])
    _no_traceback(body)
