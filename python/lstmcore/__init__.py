"""lstmcore: a small pure-Python deep-learning layer over fast_lstm's compiled LSTM kernels.

Layers own their parameters (PyTorch's names and shapes) and gradient accumulators; the
arithmetic of whole sequences runs in ``fast_lstm``.  ``python -m lstmcore`` runs the demo job.
"""

from fast_lstm import __version__

from .layers import LSTM

__all__ = ["LSTM", "__version__"]
