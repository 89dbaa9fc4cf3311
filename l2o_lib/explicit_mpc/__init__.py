"""Explicit MPC: the critical-region partition of a linear MPC and its compiled online point location.

:func:`build_partition` enumerates the regions (:mod:`.partition`) into a :class:`Partition` (:mod:`.regions`);
:class:`SequentialLocator` and :class:`TreeLocator` find the region of a state and return u₀ by its affine law
(:mod:`.locate`); :class:`NearestStrategy` proposes the strategies of the nearest training states to the certified
pipeline, the learning-free middle ground (:mod:`.nearest`).
"""

from l2o_lib.explicit_mpc.locate import SequentialLocator, TreeLocator, containing, locate_sequential, region_frequency
from l2o_lib.explicit_mpc.nearest import NearestStrategy
from l2o_lib.explicit_mpc.partition import build_partition
from l2o_lib.explicit_mpc.regions import Partition

__all__ = ["NearestStrategy", "Partition", "SequentialLocator", "TreeLocator", "build_partition", "containing",
           "locate_sequential", "region_frequency"]
