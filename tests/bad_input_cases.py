"""Bad and careless inputs to ``l2o_lib`` (models, cards, caches, arrays, constructors, solver options, CLI), each
with the outcome that counts as handled: a named error type whose message names the problem, or (for inputs that
used to give a wrong answer silently) the right answer.

Used twice: ``tests/test_bad_input_cases.py`` runs every case, and ``scripts/replay_bad_inputs.py`` counts how many
of them a given ``l2o_lib`` (this checkout or another one on ``PYTHONPATH``) handles, so the count can be taken
before and after a change. Only public API is called, so the same cases run against an older library.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL = "ch1_direct_mlp"


@dataclass
class Case:
    """One bad input: ``run(tmp)`` must raise ``exc`` with ``match`` in its message, or return True."""

    id: str
    run: Callable[[Path], object]
    exc: type[BaseException] | None = None
    match: str = ""


class Usage(Exception):
    """A command line that stopped with exit status 2 and a message (argparse's ``error``)."""


@contextlib.contextmanager
def data_dir(folder: Path):
    old = os.environ.get("L2O_DATA_DIR")
    os.environ["L2O_DATA_DIR"] = str(folder)
    try:
        yield folder
    finally:
        if old is None:
            os.environ.pop("L2O_DATA_DIR", None)
        else:
            os.environ["L2O_DATA_DIR"] = old


def copy_model(tmp: Path, edit: Callable[[dict], None] | None = None, name: str = MODEL) -> Path:
    """A data folder with the shipped model (card, weights, manifest when there is one), its card edited."""
    import l2o_lib

    shipped = Path(l2o_lib.__file__).resolve().parent.parent / "data"  # the cards of the library under test
    folder = tmp / "data"
    folder.mkdir(parents=True, exist_ok=True)
    for f in (f"{MODEL}.json", f"{MODEL}.safetensors", "manifest.json"):
        if (shipped / f).is_file():
            shutil.copy(shipped / f, folder / f)
    if edit is not None:
        raw = json.loads((folder / f"{MODEL}.json").read_text())
        edit(raw)
        (folder / f"{MODEL}.json").unlink()
        (folder / f"{name}.json").write_text(json.dumps(raw))
        if name != MODEL:
            shutil.copy(folder / f"{MODEL}.safetensors", folder / f"{name}.safetensors")
    return folder


def load_edited(edit: Callable[[dict], None], name: str = MODEL) -> Callable[[Path], object]:
    def run(tmp: Path):
        from l2o_lib import pretrained

        with data_dir(copy_model(tmp, edit, name)):
            return pretrained.load(name)
    return run


def setter(**fields) -> Callable[[dict], None]:
    def edit(raw: dict) -> None:
        raw.update(fields)
    return edit


def deleter(key: str) -> Callable[[dict], None]:
    return lambda raw: raw.pop(key)


def cli(argv: list[str]) -> Callable[[Path], object]:
    def run(tmp: Path):
        from l2o_lib import scorecard

        err = io.StringIO()
        argv_ = [a.replace("{tmp}", str(tmp)) for a in argv]
        with data_dir(copy_model(tmp)), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                rc = scorecard.main(argv_ + ["--only", MODEL, "--n", "3"])
            except SystemExit as exc:
                if exc.code != 2:
                    raise
                raise Usage(err.getvalue().strip().splitlines()[-1]) from None
        if rc == 2:
            raise Usage(err.getvalue())
        return rc
    return run


def fam(name: str, **kw):
    from l2o_lib import problems

    return problems.get(name, **kw)


def xi_of(name: str, n: int = 3, **kw) -> np.ndarray:
    return fam(name, **kw).sample(n, seed=0)


# ------------------------------------------------------------------------------------------- outcome checks
def evil_loader(tmp: Path):
    """A card naming a module in the working directory: refused before that module can run."""
    (tmp / "evil_l2o.py").write_text(f"open({str(tmp / 'RAN')!r}, 'w').write('x')\ndef load(*a): return None\n")
    sys.path.insert(0, str(tmp))
    try:
        load_edited(setter(loader="evil_l2o:load"))(tmp)
    finally:
        sys.path.remove(str(tmp))
        sys.modules.pop("evil_l2o", None)
        if (tmp / "RAN").exists():
            raise AssertionError("the card's loader module was imported and ran")


def seeded_labels_differ(tmp: Path) -> bool:
    from l2o_lib import datasets

    datasets.labeled(fam("entropy"), 5, seed=1, folder=tmp)
    other = fam("entropy", seed=3)
    lab = datasets.labeled(other, 5, seed=1, folder=tmp)
    _, ineq = np.abs(other.eq_residual(lab.solution.x, lab.xi)), other.ineq_residual(lab.solution.x, lab.xi)
    return not lab.loaded and float(np.max(ineq)) < 1e-6


def ranged_labels_differ(tmp: Path) -> bool:
    from l2o_lib import datasets

    datasets.labeled(fam("nonconvex_2d"), 4, seed=1, folder=tmp)
    narrow = fam("nonconvex_2d", p_range=(1.5, 2.0))
    lab = datasets.labeled(narrow, 4, seed=1, folder=tmp)
    return not lab.loaded and float(lab.xi[:, 0].min()) >= 1.5


def corrupt_cache_is_regenerated(corrupt: Callable[[Path], None]) -> Callable[[Path], bool]:
    def run(tmp: Path) -> bool:
        from l2o_lib import datasets

        f = fam("nonconvex_2d")
        first = datasets.labeled(f, 6, seed=1, folder=tmp)
        corrupt(first.path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            again = datasets.labeled(f, 6, seed=1, folder=tmp)
        warned = any("solving again" in str(w.message) for w in caught)
        return warned and not again.loaded and np.allclose(again.solution.x, first.solution.x)
    return run


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def nan_marked_optimal(path: Path) -> None:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["x"] = np.full_like(arrays["x"], np.nan)
    np.savez(path, **arrays)


def three_rows(path: Path) -> None:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: (z[k][:3] if z[k].ndim and len(z[k]) == 6 else z[k]) for k in z.files}
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def torch_int_objective(tmp: Path):
    import torch

    f = fam("dc3_qp")
    return f.objective(torch.ones((3, 100), dtype=torch.int64), torch.as_tensor(f.sample(3, 0)))


def jax_int_objective(tmp: Path):
    import jax.numpy as jnp

    f = fam("param_qp")
    return f.objective(jnp.ones((3, 10), dtype=jnp.int32), jnp.asarray(f.sample(3, 0)))


def list_objective_is_right(tmp: Path) -> bool:
    f = fam("dc3_qp")
    xi = f.sample(2, 0)
    return bool(np.allclose(f.objective(np.ones((2, 100)).tolist(), xi.tolist()), f.objective(np.ones((2, 100)), xi)))


def bf16_objective_is_close(tmp: Path) -> bool:
    import torch

    f = fam("nonconvex_2d")
    xi = f.sample(4, 0)
    x = np.full((4, 2), 0.5)
    got = f.objective(torch.as_tensor(x, dtype=torch.bfloat16), torch.as_tensor(xi, dtype=torch.bfloat16))
    return bool(np.allclose(got.double().numpy(), f.objective(x, xi), rtol=2e-2))


def scs_is_labelled_scs(tmp: Path) -> bool:
    sol = fam("entropy").solve(xi_of("entropy", 1), solver="SCS")
    return "SCS" in sol.solver


def empty_predict(name: str) -> Callable[[Path], bool]:
    def run(tmp: Path) -> bool:
        from l2o_lib import pretrained

        m = pretrained.load(name)
        out = m.predict(np.zeros((0, m.problem.n_params)))
        return out.shape == (0, m.problem.n_vars)
    return run


def wide_prediction(tmp: Path):
    """The registry's predict around a model that answers 5 columns for a 2-variable family."""
    from l2o_lib import pretrained

    two_d = fam("nonconvex_2d")
    predict = pretrained.checked_predict(two_d, lambda xi: np.zeros((len(xi), 5)), "wide")
    return predict(two_d.sample(3, 0))


def ref_none_solved(tmp: Path):
    from l2o_lib import metrics
    from l2o_lib.problems.base import Solution

    f = fam("nonconvex_2d")
    xi = f.sample(2, 0)
    ref = Solution(np.full((2, 2), np.nan), np.full(2, np.nan), np.array(["failed", "failed"]), np.zeros(2),
                   np.zeros(2), "test")
    return metrics.reference_row(f, xi, ref)


def ref_empty(tmp: Path):
    from l2o_lib import metrics

    f = fam("nonconvex_2d")
    return metrics.reference_row(f, np.zeros((0, 2)), f.solve(f.sample(1, 0)).subset(np.array([], dtype=int)))


def compare_other_length(tmp: Path):
    from l2o_lib import metrics

    f = fam("nonconvex_2d")
    return metrics.compare(f, {"m": lambda xi: np.zeros((len(xi), 2))}, f.sample(3, 0), f.solve(f.sample(2, 0)))


def compare_empty(tmp: Path):
    from l2o_lib import metrics

    f = fam("nonconvex_2d")
    return metrics.compare(f, {"m": lambda xi: np.zeros((len(xi), 2))}, np.zeros((0, 2)))


def per_instance_bad(x_rows: int, ref_rows: int) -> Callable[[Path], object]:
    def run(tmp: Path):
        from l2o_lib import metrics

        f = fam("nonconvex_2d")
        return metrics.per_instance(f, np.zeros((x_rows, 2)), f.sample(3, 0), f.solve(f.sample(ref_rows, 0)))
    return run


def save_card(**overrides) -> Callable[[Path], object]:
    def run(tmp: Path):
        from l2o_lib import pretrained

        args = dict(family=fam("nonconvex_2d"), loader="solution_map", description="", chapter="tests")
        args.update(overrides)
        with data_dir(tmp / "save"):
            return pretrained.save(args.pop("name", "m"), {"w": np.ones(2)}, **args)
    return run


def invalid_json_card(tmp: Path):
    from l2o_lib import pretrained

    folder = copy_model(tmp)
    (folder / f"{MODEL}.json").write_text("{not json")
    with data_dir(folder):
        names = pretrained.available()
    return names


def renamed_card(tmp: Path):
    return load_edited(setter(name="ch1_renamed"), name="ch1_renamed")(tmp)


def old_format_card(tmp: Path):
    def edit(raw: dict) -> None:
        raw.pop("schema", None)
        raw["loader"] = "l2o_lib.torch.nets:load_solution_map"
    return load_edited(edit)(tmp)


def edited_config(tmp: Path):
    return load_edited(lambda raw: raw["config"].update(activation="tanh"))(tmp)


def widened_range(tmp: Path):
    return load_edited(lambda raw: raw["family_kwargs"].update(p_range=[0.5, 3.0]))(tmp)


def load_path_name(tmp: Path):
    from l2o_lib import pretrained

    return pretrained.load("../data/ch1_direct_mlp")


def labeled_wrong_family(tmp: Path):
    from l2o_lib import datasets

    return datasets.labeled("entropy", 5, seed=1, folder=tmp)


def labeled_float_seed(tmp: Path):
    from l2o_lib import datasets

    return datasets.labeled(fam("nonconvex_2d"), 5, seed=1.7, folder=tmp)


def check_unknown_field(tmp: Path):
    from l2o_lib import pretrained

    return pretrained.check({"gap_mean_pct": 0.1}, pretrained.card(MODEL))


def shipped_or_trained_path(tmp: Path):
    from l2o_lib import pretrained

    return pretrained.shipped_or_trained("../ch1_direct_mlp", None)


CASES: list[Case] = [
    # ---- a card must not run foreign code or read outside the data folder
    Case("loader builtins:print", load_edited(setter(loader="builtins:print")), ValueError,
         r"'builtins:print' is not in l2o_lib's loader registry"),
    Case("loader subprocess:run", load_edited(setter(loader="subprocess:run")), ValueError,
         r"'subprocess:run' is not in l2o_lib's loader registry"),
    Case("loader in the working directory", evil_loader, ValueError, r"'evil_l2o:load' is not in l2o_lib's loader"),
    Case("file ../outside", load_edited(setter(file="../outside/w.safetensors")), ValueError,
         r"field 'file' must be a plain file name"),
    Case("file /etc/passwd", load_edited(setter(file="/etc/passwd")), ValueError, r"field 'file' must be a plain file"),
    Case("load('../data/NAME')", load_path_name, ValueError, r"letters, digits and underscores \(a plain name, no path\)"),
    Case("edited activation", edited_config, ValueError, r"\['config'\] differ from what manifest.json signed"),
    Case("widened p_range", widened_range, ValueError, r"\['family_kwargs'\] differ from what manifest.json signed"),
    Case("renamed card", renamed_card, ValueError, r"'ch1_renamed' is not in .*manifest.json"),
    # ---- one card format, validated with the file and the field named
    Case("card missing a field", load_edited(deleter("description")), ValueError,
         r"ch1_direct_mlp.json: missing field\(s\) \['description'\]"),
    Case("card with an extra field", load_edited(setter(colour="red")), ValueError,
         r"ch1_direct_mlp.json: unknown field\(s\) \['colour'\]"),
    Case("card that is not JSON", invalid_json_card, ValueError, r"ch1_direct_mlp.json: not valid JSON"),
    Case("sha256 null", load_edited(setter(sha256=None)), ValueError,
         r"ch1_direct_mlp.json: field 'sha256' must be a string"),
    Case("headline key not a Row field", load_edited(setter(headline={"gap_mean_pct": 0.1})), ValueError,
         r"field 'headline' key 'gap_mean_pct' is not a field of metrics.Row"),
    Case("target key not a Row field", load_edited(setter(targets={"gap_mean_percent_below": 0.5})), ValueError,
         r"field 'targets' key 'gap_mean_percent_below' is not a numeric field"),
    Case("old-format card", old_format_card, ValueError, r"field 'schema' is None, expected 'l2o-book/model-card/2'"),
    Case("save: target not a Row field", save_card(targets={"gap_mean_pct": 1.0}), ValueError,
         r"save\(m\): field 'targets' key 'gap_mean_pct'"),
    Case("save: loader outside the registry", save_card(loader="os:system"), ValueError,
         r"'os:system' is not in l2o_lib's loader registry"),
    Case("save: path as name", save_card(name="../m"), ValueError, r"letters, digits and underscores"),
    Case("check: not a Row field", check_unknown_field, ValueError, r"\['gap_mean_pct'\] are not fields of metrics.Row"),
    Case("shipped_or_trained: path as name", shipped_or_trained_path, ValueError, r"plain name, no path"),
    # ---- caches keyed on the family's identity, checked by content
    Case("entropy(seed=3) gets its own labels", seeded_labels_differ),
    Case("nonconvex_2d(p_range=(1.5, 2)) gets its own labels", ranged_labels_differ),
    Case("truncated cache is regenerated", corrupt_cache_is_regenerated(truncate)),
    Case("NaN x marked optimal is regenerated", corrupt_cache_is_regenerated(nan_marked_optimal)),
    Case("3 rows for n = 6 is regenerated", corrupt_cache_is_regenerated(three_rows)),
    Case("labeled: family as a string", labeled_wrong_family, TypeError, r"family must be a ProblemFamily, got str"),
    Case("labeled: seed 1.7", labeled_float_seed, ValueError, r"seed must be a non-negative integer, got 1.7"),
    # ---- arrays
    Case("torch int64 x", torch_int_objective, TypeError, r"dc3_qp.objective: x has dtype torch.int64"),
    Case("jax int32 x", jax_int_objective, TypeError, r"param_qp.objective: x has dtype int32"),
    Case("python lists", list_objective_is_right),
    Case("bfloat16 tensors", bf16_objective_is_close),
    Case("string ξ", lambda t: fam("nonconvex_2d").objective(np.zeros((2, 2)), np.array([["a", "b"]] * 2)), TypeError,
         r"nonconvex_2d.objective: ξ must be a real numeric array, got dtype <U1"),
    Case("object x", lambda t: fam("nonconvex_2d").objective(np.array([[None, 1]] * 2, dtype=object),
                                                             xi_of("nonconvex_2d", 2)), TypeError,
         r"x must be a real numeric array, got dtype object"),
    Case("complex ξ", lambda t: fam("nonconvex_2d").solve(xi_of("nonconvex_2d", 1) + 0j), TypeError,
         r"nonconvex_2d.solve: ξ must be a real numeric array, got dtype complex128"),
    Case("list of strings", lambda t: fam("nonconvex_2d").check_params([["a", "b"]]), TypeError,
         r"ξ must be numbers, got a list"),
    Case("numpy x with torch ξ", lambda t: fam("nonconvex_2d").ineq_residual(
        np.zeros((2, 2)), __import__("torch").zeros((2, 2))), TypeError,
        r"x is a numpy array but ξ is a torch array"),
    Case("evaluate: string x", lambda t: __import__("l2o_lib.metrics").metrics.evaluate(
        fam("nonconvex_2d"), np.array([["a", "b"]]), xi_of("nonconvex_2d", 1), fam("nonconvex_2d").solve(
            xi_of("nonconvex_2d", 1))), TypeError, r"evaluate\(method\) x: expected a real numeric array"),
    # ---- reference solver options
    Case("SCS is labelled SCS", scs_is_labelled_scs),
    Case("unknown cvxpy solver", lambda t: fam("entropy").solve(xi_of("entropy", 1), solver="NOPE"), ValueError,
         r"entropy.solve: solver 'NOPE' is not an installed cvxpy solver"),
    Case("unknown cvxpy option", lambda t: fam("dc3_qp").solve(xi_of("dc3_qp", 1), foo=1), ValueError,
         r"dc3_qp.solve: CLARABEL rejected the option\(s\) \['foo'\]"),
    Case("nonconvex_2d solver=", lambda t: fam("nonconvex_2d").solve(xi_of("nonconvex_2d", 1), solver="SCS"),
         ValueError, r"nonconvex_2d.solve: unknown option\(s\) \['solver'\]"),
    Case("nonconvex_2d starts=0", lambda t: fam("nonconvex_2d").solve(xi_of("nonconvex_2d", 1), starts=0), ValueError,
         r"starts must be an integer from 1 to 4, got 0"),
    Case("nonconvex_2d starts=-1", lambda t: fam("nonconvex_2d").solve(xi_of("nonconvex_2d", 1), starts=-1),
         ValueError, r"starts must be an integer from 1 to 4, got -1"),
    # ---- constructors
    Case("entropy seed=-1", lambda t: fam("entropy", seed=-1), ValueError, r"seed must be a non-negative integer, got -1"),
    Case("entropy seed='a'", lambda t: fam("entropy", seed="a"), ValueError, r"seed must be a non-negative integer, got 'a'"),
    Case("entropy seed=None", lambda t: fam("entropy", seed=None), ValueError, r"seed must be a non-negative integer, got None"),
    Case("dc3_qp seed=1.7", lambda t: fam("dc3_qp", seed=1.7), ValueError, r"seed must be a non-negative integer, got 1.7"),
    Case("l1qp_box lam='0.3'", lambda t: fam("l1qp_box", lam="0.3"), ValueError, r"lam must be a finite number, got '0.3'"),
    Case("l1qp_box radius=None", lambda t: fam("l1qp_box", radius=None), ValueError, r"radius must be a finite number"),
    Case("p_range=5", lambda t: fam("nonconvex_2d", p_range=5), ValueError, r"p_range must be a pair \(low, high\)"),
    Case("p_range=(1,)", lambda t: fam("nonconvex_2d", p_range=(1,)), ValueError, r"p_range must be a pair"),
    Case("p_range=('a','b')", lambda t: fam("nonconvex_2d", p_range=("a", "b")), ValueError,
         r"p_range must hold two numbers"),
    Case("p_range=(0.5, inf)", lambda t: fam("nonconvex_2d", p_range=(0.5, np.inf)), ValueError, r"p_range must be finite"),
    Case("problems.get(['entropy'])", lambda t: fam(["entropy"]), TypeError, r"problem family name must be a string"),
    # ---- predict, metrics
    Case("empty batch: ch4_dc3_nonconvex_2d", empty_predict("ch4_dc3_nonconvex_2d")),
    Case("empty batch: ch5_learned_admm", empty_predict("ch5_learned_admm")),
    Case("empty batch: ch5_fixed_point_admm", empty_predict("ch5_fixed_point_admm")),
    Case("predict of the wrong width", wide_prediction, ValueError, r"wide.predict: the model returned shape \(3, 5\), "
                                                                    r"expected \(3, 2\)"),
    Case("reference_row: nothing solved", ref_none_solved, ValueError, r"reference_row: the reference \(test\) solved none"),
    Case("reference_row: empty batch", ref_empty, ValueError, r"reference_row: ξ must be a non-empty batch"),
    Case("compare: reference of another length", compare_other_length, ValueError,
         r"compare: the reference has 2 instances but ξ has 3"),
    Case("compare: empty batch", compare_empty, ValueError, r"compare: ξ is an empty batch"),
    Case("per_instance: x of another length", per_instance_bad(2, 3), ValueError,
         r"per_instance: x must have shape \(3, 2\), got \(2, 2\)"),
    Case("per_instance: reference of another length", per_instance_bad(3, 2), ValueError,
         r"per_instance: reference must be a Solution of the 3 instances"),
    # ---- scorecard command line (checked before any scoring)
    Case("scorecard --time-ref -1", cli(["--time-ref", "-1", "--json", "{tmp}/s.json", "--cache-dir", "{tmp}/c"]), Usage,
         r"--time-ref must be at least 1"),
    Case("scorecard --time-ref 0", cli(["--time-ref", "0", "--json", "{tmp}/s.json", "--cache-dir", "{tmp}/c"]), Usage,
         r"--time-ref must be at least 1"),
    Case("scorecard --json to a missing folder", cli(["--json", "{tmp}/nope/s.json", "--cache-dir", "{tmp}/c"]), Usage,
         r"--json .*does not exist"),
    Case("scorecard --cache-dir /proc/nope", cli(["--cache-dir", "/proc/nope", "--json", "{tmp}/s.json"]), Usage,
         r"--cache-dir /proc/nope: cannot create it"),
    Case("scorecard --executor threads", cli(["--executor", "threads", "--json", "{tmp}/s.json", "--cache-dir", "{tmp}/c"]),
         Usage, r"--executor: invalid choice: 'threads' \(choose from '?serial'?, '?processes'?\)"),
    # ---- explicit MPC and the MPC size sweep
    Case("explicit MPC of a family that is not an MPC", lambda tmp: explicit_partition(fam("dc3_qp")), TypeError,
         r"build_partition needs a family that is LinearMPCForm"),
    Case("explicit MPC with no time to build", lambda tmp: explicit_partition(fam("mpc", horizon=2), time_limit=-1),
         ValueError, r"time_limit must be a positive number"),
    Case("mpc_sizes.load of a missing file", lambda tmp: mpc_sizes_load(tmp / "none.json"), FileNotFoundError,
         r"no recorded sweep at .*python -m l2o_lib.mpc_sizes"),
]


def explicit_partition(family, **kw):
    from l2o_lib.explicit_mpc import build_partition

    return build_partition(family, **kw)


def mpc_sizes_load(path: Path):
    from l2o_lib import mpc_sizes

    return mpc_sizes.load(path)


def outcome(case: Case, tmp: Path) -> tuple[bool, str]:
    """(handled, what happened) for one case."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = case.run(tmp)
    except BaseException as exc:  # noqa: BLE001 - classifying whatever the library raised is the point
        if isinstance(exc, KeyboardInterrupt):
            raise
        msg = str(exc)
        ok = case.exc is not None and isinstance(exc, case.exc) and re.search(case.match, msg) is not None
        return ok, f"{type(exc).__name__}: {msg[:160]}"
    if case.exc is not None:
        return False, f"no error (returned {type(result).__name__})"
    return result is True, f"returned {result!r:.80}"
