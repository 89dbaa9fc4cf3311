"""How the cost grows: the scaling study's analysis (numpy only; the sweeps live in ``scaling.sweep``).

``python -m l2o_lib.scaling`` runs the sweeps and writes ``data/scaling.json`` and the plots; the book's
scaling page reads that JSON with :func:`load` and computes everything it states from it: the exponents of
time ∝ n^α (:func:`fit_exponent`, :func:`exponents`), the sizes where a learned method's curve crosses a
solver's (:func:`crossovers`) and the batch where each batched method reaches 90 % of its best throughput
(:func:`saturation`).
"""

from l2o_lib.scaling.analysis import (
    EXTRAPOLATE_MAX,
    batch_one,
    break_even,
    crossover,
    crossovers,
    exponents,
    families,
    fit_exponent,
    methods_of,
    saturation,
)
from l2o_lib.scaling.record import (
    ACCURACY_KEYS,
    BATCH_KEYS,
    KEYS,
    SCHEMA,
    SIZE_KEYS,
    default_path,
    load,
    validate,
)
from l2o_lib.scaling.report import (
    STYLE,
    accuracy_table,
    crossover_table,
    exponent_table,
    memory_table,
    overhead,
    overhead_table,
    plot_accuracy,
    plot_batches,
    plot_sizes,
    saturation_table,
    save_plots,
    skipped_table,
    summary_table,
)

__all__ = [
    "ACCURACY_KEYS", "BATCH_KEYS", "EXTRAPOLATE_MAX", "KEYS", "SCHEMA", "SIZE_KEYS", "STYLE", "accuracy_table",
    "batch_one", "break_even", "crossover", "crossover_table", "crossovers", "default_path", "exponent_table",
    "exponents", "families", "fit_exponent", "load", "memory_table", "methods_of", "overhead", "overhead_table",
    "plot_accuracy", "plot_batches", "plot_sizes", "saturation", "saturation_table", "save_plots", "skipped_table",
    "summary_table", "validate",
]
