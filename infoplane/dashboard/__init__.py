"""The "Information plane" TensorBoard dashboard.

Installed with infoplane through the ``tensorboard_plugins`` entry point
(``infoplane = "infoplane.dashboard.plugin:InfoplaneLoader"``), so ``tensorboard --logdir runs``
shows an "Information plane" tab. See :mod:`infoplane.dashboard.plugin` for the routes.
"""

from infoplane.dashboard.plugin import PLUGIN_NAME, InfoplaneLoader, InfoplanePlugin

__all__ = ["PLUGIN_NAME", "InfoplaneLoader", "InfoplanePlugin"]
