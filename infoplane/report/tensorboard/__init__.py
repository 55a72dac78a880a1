"""TensorBoard event files of a run, written without TensorFlow (``report/tensorboard/``).

- `format`: the layout of the event files, the tags, labels and row keys (the contract the
  dashboard reads; imports no protobuf);
- `events`: `EventWriter` (one event directory, TFRecord framing, CRC-32C) and `EventDirs`;
- `logger`: `TensorBoardLogger`, the recorder's sink, built from `dashboard` (the Information
  plane tab's tensors), `layout` (custom scalars), `hparams` and `images`.

The public import path is `infoplane.tensorboard`.
"""
