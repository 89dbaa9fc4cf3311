"""Chapter 2's labeled data sets: seeded instances solved by each family's reference solver, as npz in data/.

    python scripts/make_ch2_data.py            # build the files that are missing
    python scripts/make_ch2_data.py --force    # rebuild them all

Each file records ξ, x*, f*, the solver status and time, and the total reference-solver seconds (the label cost
the chapter reports). The notebook calls the same `datasets.labeled`, so it regenerates a missing file itself.
"""

from __future__ import annotations

import argparse

from l2o_lib import datasets, problems

#: (family, number of instances, seed): training labels for both problems, held-out set for the 2-D one
SETS = (("nonconvex_2d", 2000, 2002), ("nonconvex_2d", 1000, 2003), ("dc3_qp", 1000, 2002))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="regenerate files that already exist")
    args = parser.parse_args()
    for name, n, seed in SETS:
        lab = datasets.labeled(problems.get(name), n, seed, regenerate=args.force, progress=True)
        how = "loaded" if lab.loaded else "generated"
        print(f"{lab.path.name}: {n} instances, {int(lab.solution.ok.sum())} solved, reference solver "
              f"{lab.seconds:.1f} s ({how}), {lab.path.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
