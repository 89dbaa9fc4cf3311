"""l2o_lib: the shared code of the l2o-book (Learning to Optimize).

Importing the package loads only numpy-level layers (runtime, problems, metrics, pretrained
registry). Framework code lives in ``l2o_lib.torch`` and ``l2o_lib.jax`` and loads on demand.
"""

from l2o_lib import metrics, problems, runtime

__all__ = ["metrics", "problems", "runtime", "__version__"]
__version__ = "0.1.0"
