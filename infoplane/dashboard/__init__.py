"""The "Information plane" TensorBoard dashboard.

Installed with infoplane through the ``tensorboard_plugins`` entry point
(``infoplane = "infoplane.dashboard.plugin:InfoplaneLoader"``), so ``tensorboard --logdir runs``
shows an "Information plane" tab. See :mod:`infoplane.dashboard.plugin` for the routes.

It reads the tensors `infoplane.report.tensorboard` writes, through TensorBoard's data
provider, and imports nothing of infoplane but that format (`infoplane.report.tensorboard.format`):
TensorBoard loading the plugin pays for no JAX, flax or matplotlib.
"""

from infoplane.dashboard.plugin import PLUGIN_NAME, InfoplaneLoader, InfoplanePlugin

__all__ = ["PLUGIN_NAME", "InfoplaneLoader", "InfoplanePlugin"]
