"""``config.json``: every option of a run, as JSON (`infoplane.store.layout`).

`write_config` writes it atomically (`infoplane.store.atomic.write_json`); `config_path`
finds it from a run directory and `read_config` reads it back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from infoplane.store.atomic import write_json
from infoplane.store.layout import CONFIG_FILE

__all__ = ["config_path", "read_config", "write_config"]


def config_path(run_dir: str | os.PathLike) -> str:
    """``run_dir/config.json``, or ``run_dir`` itself when it is not a directory (the file)."""
    path = os.fspath(run_dir)
    return os.path.join(path, CONFIG_FILE) if os.path.isdir(path) else path


def read_config(run_dir: str | os.PathLike) -> Any:
    """The parsed ``config.json`` of a run directory (or of the file given). A file that is
    not UTF-8 JSON (cut short, overwritten) is a ValueError naming it and what to do."""
    path = config_path(run_dir)
    with open(path, "rb") as f:
        data = f.read()
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        what = f"it is not UTF-8 text (byte {err.start} of {len(data)} is {data[err.start]:#04x})"
    except json.JSONDecodeError as err:
        what = (f"it is not valid JSON ({err.msg} at line {err.lineno} column {err.colno} of "
                f"{len(data)} bytes{'; empty' if not data.strip() else ''})")
    raise ValueError(
        f"{path} is damaged: {what}. It holds the run's settings (written once when the run "
        "started): restore it from a backup or another run with the same options; the "
        "results and activations of the run are not affected."
    )


def write_config(run_dir: str | os.PathLike, config: Mapping) -> str:
    """Write ``config`` to ``run_dir/config.json`` atomically; returns its path."""
    path = os.path.join(os.fspath(run_dir), CONFIG_FILE)
    write_json(path, config)
    return path
