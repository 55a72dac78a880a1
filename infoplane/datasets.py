"""Probe datasets: the public import path of `infoplane.experiments.datasets` (the
Shwartz-Ziv--Tishby 12-bit task, generated; the original ``var_u.mat``; scikit-learn's digits;
a user's ``.npz``; a seeded train/test split; MNIST / Fashion-MNIST from IDX files or
mnist.npz, CIFAR-10 from its python batches, MNIST-1D generated). Nothing here downloads
anything.
"""

from infoplane.experiments.datasets import *  # noqa: F403 - the same names, __all__ included
from infoplane.experiments.datasets import N_BITS, __all__  # noqa: F401
