"""Built-in experiments (``experiments/``): datasets, presets and their networks, the optax
training loop, checkpoints, run / resume, and the re-estimation of a stored run.

- `datasets`: the probe data (generated, bundled or the user's files; nothing downloaded);
- `models`, `presets`: the built-in networks and experiments, and the default estimators
  of ``infoplane run``;
- `training`: several seeds trained together (``vmap``), one ``lax.scan`` per epoch;
- `checkpoints`: orbax checkpoints (a resume falls back past an unreadable one) and the
  truncation a resume starts from;
- `repair`: a resume's check of the tables against the schedule: damaged files kept aside,
  lost epochs re-estimated from stored activations, or a clear refusal;
- `run`: `run_experiment` / `resume_experiment`;
- `reestimate`: ``infoplane estimate``'s work on a stored run;
- `sweep`: ``infoplane sweep``'s expansion of list-valued estimator parameters and the
  sensitivity table of the swept parameter sets;
- `runtime`: the process's JAX set-up (CPU cores as devices, the compilation cache).

May import: `infoplane.estimators`, `infoplane.store`, `infoplane.recording` and
`infoplane.report` (the package's own ``__version__`` too); never `infoplane.cli`. Importing
this package imports none of its modules.
"""
