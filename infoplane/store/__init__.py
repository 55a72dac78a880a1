"""The run directory: its layout and every file in it, written and read (``store/``).

A run directory ``runs/<name>/`` is a stable contract between the parts that fill it
(`infoplane.recording`, `infoplane.experiments`) and the parts that read it
(`infoplane.report`, the dashboard, ``infoplane plot`` / ``estimate`` / ``run --resume``).
This part knows the files and their formats, and nothing of who writes them.

Modules:

- `layout`: the names of the files and directories, and the contract itself (docstring);
- `atomic`: atomic, optionally durable file replacement (temporary file + ``os.replace``);
- `tables`: the CSV tables (results, metrics, diagnostics, aux): columns, the appending
  `~infoplane.store.tables.ResultsWriter`, the tolerant reader, truncation, the loaders;
- `results`: the `~infoplane.store.results.Results` table, `load_results`, `concat`;
- `activations`: the opt-in `~infoplane.store.activations.ActivationStore` (also the format of
  the recorder's write-ahead log ``pending/``);
- `scan`: the whole ``activations/`` checked against its layout (which any framework can
  write) from the array headers, before anything is estimated;
- `config`: ``config.json`` (a damaged one is a ValueError naming it);
- `lock`: one writer per run directory (``fcntl.flock`` on ``<run_dir>/.lock``).

May import: the standard library and NumPy; nothing else of infoplane. Importing this
package imports none of its modules (and no JAX, flax or matplotlib).
"""
