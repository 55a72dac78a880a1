"""The information-plane images of a run in TensorBoard: one PNG per (estimator label, split),
tag ``information_plane/<label>/<split>``, drawn by `infoplane.plot.information_plane`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence

from infoplane.report.tensorboard.events import EventWriter
from infoplane.report.tensorboard.format import EstimatorLabels, ceilings_in

__all__ = ["Renderer", "default_renderer", "write_images"]

#: ``render(table, *, estimator, split, params) -> PNG bytes``.
Renderer = Callable[..., bytes]


def default_renderer(ceilings: Mapping[str, Mapping[str, float | None]], dpi: int = 80
                     ) -> Renderer:
    """A renderer drawing `infoplane.plot.information_plane` (imported at the first image) at
    ``dpi``, with the ceilings {split: {"i_xt": H(X), "i_ty": H(Y)}} given in bits (and "n",
    the probe size, when known)."""

    def render(table, *, estimator: str, split: str, params: str) -> bytes:
        import matplotlib.pyplot as plt  # the backend is the user's (Agg when headless)

        from infoplane.report.figures.ceilings import Ceilings
        from infoplane.report.figures.output import render_png
        from infoplane.report.figures.plane import information_plane

        c = ceilings_in(ceilings.get(split), "bits")
        n = (ceilings.get(split) or {}).get("n")  # the probe size, when the caller gave it
        drawn = Ceilings(c["i_xt"], c["i_ty"], "bits", n if isinstance(n, int) else None)
        fig, _ = information_plane(table, estimator=estimator, split=split, params=params,
                                   ceilings=drawn)
        try:
            return render_png(fig, dpi=dpi, tight=False)  # constrained layout: one draw
        finally:
            plt.close(fig)

    return render


def write_images(w: EventWriter, rows: Sequence[Mapping], labels: EstimatorLabels,
                 render: Renderer, step: int, warned: bool) -> bool:
    """Render one image per (estimator instance, split) from ``rows`` (all seeds) and write it
    at ``step`` with the run-level writer ``w``. A failing render never stops training: the
    first failure is warned about (unless ``warned``). Returns whether a warning was given."""
    from infoplane.store.results import Results

    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["estimator"], r["params"], r["split"]), []).append(r)
    for (name, params, split), group in groups.items():
        label = labels[(name, params)]
        try:
            png = render(Results.from_rows(group), estimator=name, split=split, params=params)
            w.image(f"information_plane/{label}/{split}", png, step)
        except Exception as err:  # noqa: BLE001 - a figure must never stop training
            if not warned:
                warned = True
                warnings.warn(
                    f"TensorBoard information-plane image {label}/{split} could not be "
                    f"rendered ({type(err).__name__}: {err}); scalars and dashboard tensors "
                    "are still written. Pass images=False to skip images.",
                    RuntimeWarning, stacklevel=4)
    return warned
