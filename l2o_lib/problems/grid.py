"""Power networks as per-unit numpy arrays, converted once from pandapower's IEEE test cases.

:func:`network` turns ``pandapower.networks.case57()`` (or ``case118()``) into a frozen :class:`Network`: the
bus admittance matrix as dense real and imaginary parts, the branch admittances for line flows, generator limits
and quadratic costs, the nominal loads, the bus types and the buses' drawing coordinates. pandapower is imported
only here, the first time a case is converted in a process; the arrays are then kept in a small npz file (no
pickle) in the user's cache folder, named after the case, :data:`CONVERSION_VERSION` and pandapower's version, so
later processes (a process pool's workers, the next notebook run) read them without importing pandapower.

The data are MATPOWER's IEEE cases as pandapower ships them (converted from MATPOWER's case files): bus, branch
and transformer data, generator limits and MATPOWER's quadratic cost coefficients. As pandapower 3.1 reads its case
files, their transformer data differ from MATPOWER's (pandapower issue #2557 discusses case118's), so the conversion takes
pandapower's MATPOWER-style tables (``to_ppc``, π model) and puts four things back as MATPOWER has them; with them
the admittance matrices equal those built from MATPOWER's own case files (to 1e-13 p.u.), and IPOPT reproduces
MATPOWER's published optima (``tests/test_acopf.py``):

* the off-nominal taps of case57's transformers sit at their low-voltage end, MATPOWER's "from" bus
  (:data:`TAP_AT_LV_BUS`); pandapower 3.1 puts them at the high-voltage end, which moves bus 31 to 0.72 p.u. in a
  power flow and makes the nominal OPF infeasible;
* a transformer's charging susceptance is positive (pandapower 3.1 negates four of case118's);
* every bus keeps the voltage limits of its bus table (0.94 to 1.06 p.u.); pandapower pins the external grid's bus
  at its set point instead;
* a branch rating of 9900 MVA or more is pandapower's stand-in for MATPOWER's "no limit" (rateA = 0), so such
  branches get no thermal limit. Neither case sets a real rating; ``line_ratings`` of
  :class:`~l2o_lib.problems.acopf.ACOPF` adds some.

The admittances follow MATPOWER's branch model (:func:`admittances`).
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

CASES = ("case57", "case118")
#: bump when the conversion below changes what it produces (the cache file names carry it)
CONVERSION_VERSION = 1
#: pandapower writes this rating (MVA) for MATPOWER's unlimited branches
UNLIMITED_MVA = 9900.0
REF, PV, PQ = 3, 2, 1
#: cases whose MATPOWER file puts every transformer's tap at its low-voltage end (pandapower 3.1: the other end)
TAP_AT_LV_BUS = {"case57": True, "case118": False}  # MATPOWER's bus type codes


@dataclass(frozen=True, eq=False)
class Network:
    """One power network in per unit on ``base_mva``; buses 0 … nb−1, generators 0 … ng−1, loads 0 … nl−1."""

    case: str
    base_mva: float
    G: np.ndarray  #: (nb, nb) real part of the bus admittance matrix Y
    B: np.ndarray  #: (nb, nb) imaginary part of Y
    bus_type: np.ndarray  #: (nb,) REF, PV or PQ
    vmin: np.ndarray
    vmax: np.ndarray
    gen_bus: np.ndarray  #: (ng,) the bus of each generator
    pmin: np.ndarray
    pmax: np.ndarray
    qmin: np.ndarray
    qmax: np.ndarray
    cost: np.ndarray  #: (ng, 3) c2, c1, c0: c2 P² + c1 P + c0 in $/h with P in MW (MATPOWER's polynomial cost)
    load_bus: np.ndarray  #: (nl,) the bus of each load (one load per bus)
    pd: np.ndarray  #: (nl,) nominal active load, p.u.
    qd: np.ndarray  #: (nl,) nominal reactive load, p.u.
    f_bus: np.ndarray  #: (nbr,) from bus of each branch
    t_bus: np.ndarray  #: (nbr,) to bus
    Yf_re: np.ndarray  #: (nbr, nb) branch admittance: the current into each branch at its from end is Yf V
    Yf_im: np.ndarray
    Yt_re: np.ndarray  #: (nbr, nb) the same at the to end
    Yt_im: np.ndarray
    rate: np.ndarray  #: (nbr,) thermal rating, p.u.; inf where the case sets none
    coords: np.ndarray  #: (nb, 2) drawing coordinates of the buses

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                value.setflags(write=False)

    @property
    def n_bus(self) -> int:
        return len(self.bus_type)

    @property
    def n_gen(self) -> int:
        return len(self.gen_bus)

    @property
    def n_load(self) -> int:
        return len(self.load_bus)

    @property
    def n_branch(self) -> int:
        return len(self.f_bus)

    @property
    def ref(self) -> int:
        """The reference (slack) bus."""
        return int(np.flatnonzero(self.bus_type == REF)[0])


def cache_folder() -> Path:
    """Where converted networks are kept: ``$XDG_CACHE_HOME/l2o-book/networks`` (default ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "l2o-book" / "networks"


def _pandapower_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pandapower")
    except PackageNotFoundError:
        raise ModuleNotFoundError("the power networks come from pandapower, which is not installed: "
                                  "pip install 'l2o-lib[power]' (or pip install pandapower)") from None


@functools.cache
def network(case: str = "case57") -> Network:
    """The network ``case`` (one of :data:`CASES`), from the cache file or converted from pandapower."""
    if case not in CASES:
        raise KeyError(f"unknown power network {case!r}; known: {list(CASES)}")
    path = cache_folder() / f"{case}_v{CONVERSION_VERSION}_pandapower{_pandapower_version()}.npz"
    if path.is_file():
        try:
            return _read(path, case)
        except (OSError, ValueError, KeyError):
            pass  # a damaged or foreign file: convert again and replace it
    net = _convert(case)
    try:
        _write(path, net)
    except OSError:
        pass  # a read-only home folder: the conversion is simply repeated next time
    return net


def _read(path: Path, case: str) -> Network:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    if str(arrays.pop("case")) != case:
        raise ValueError(f"{path} holds another case")
    base = float(arrays.pop("base_mva"))
    names = [f.name for f in fields(Network) if f.name not in ("case", "base_mva")]
    if sorted(arrays) != sorted(names):
        raise KeyError(f"{path} does not hold the fields {names}")
    return Network(case=case, base_mva=base, **arrays)


def _write(path: Path, net: Network) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f.name: getattr(net, f.name) for f in fields(Network)}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _convert(case: str) -> Network:
    """pandapower's case → per-unit arrays, with MATPOWER's conventions put back (see the module docstring)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandapower's import and conversion warn about optional extras
        import pandapower.networks as pn
        from pandapower.converter import to_ppc

        net = getattr(pn, case)()
        ppc = to_ppc(net, init="flat", calculate_voltage_angles=True, trafo_model="pi")
    lookup = np.asarray(net._pd2ppc_lookups["bus"])
    bus_of = lambda idx: lookup[np.asarray(idx, dtype=int)]  # noqa: E731  pandapower bus index -> row of ppc
    nb, base = len(net.bus), float(ppc["baseMVA"])
    bus = ppc["bus"]
    in_order = np.array_equal(bus[:, 0], np.arange(nb)) and np.array_equal(bus_of(net.bus.index), np.arange(nb))
    if bus.shape[0] != nb or not in_order:
        raise ValueError(f"{case}: pandapower's bus order is not its bus table's; the conversion expects the same order")
    branch = ppc["branch"].copy()
    trafo = np.arange(len(net.line), branch.shape[0])  # to_ppc writes the lines, then the transformers
    if TAP_AT_LV_BUS[case]:
        branch[np.ix_(trafo, [0, 1])] = branch[np.ix_(trafo, [1, 0])]
    branch[trafo, 4] = np.abs(branch[trafo, 4])
    Ybus, Yf, Yt = admittances(base, bus, branch)

    gens = [("ext_grid", net.ext_grid), ("gen", net.gen)]
    cost_of = {(row.et, int(row.element)): (row.cp2_eur_per_mw2, row.cp1_eur_per_mw, row.cp0_eur)
               for row in net.poly_cost.itertuples()}
    gen_bus, pmin, pmax, qmin, qmax, cost = [], [], [], [], [], []
    for et, table in gens:
        for idx, row in table.iterrows():
            if not row.in_service:
                continue
            gen_bus.append(int(bus_of([row.bus])[0]))
            pmin.append(row.min_p_mw)
            pmax.append(row.max_p_mw)
            qmin.append(row.min_q_mvar)
            qmax.append(row.max_q_mvar)
            cost.append(cost_of[(et, int(idx))])
    gen_bus = np.array(gen_bus)
    if len(np.unique(gen_bus)) != len(gen_bus):
        raise ValueError(f"{case}: two generators share a bus; the formulation expects one generator per bus")
    bus_type = np.full(nb, PQ)
    bus_type[gen_bus] = PV
    bus_type[bus_of(net.ext_grid.bus.values)] = REF
    if np.sum(bus_type == REF) != 1:
        raise ValueError(f"{case}: expected exactly one reference bus")

    loads = net.load[net.load.in_service]
    load_bus = bus_of(loads.bus.values)
    pd = np.bincount(load_bus, weights=loads.p_mw.values * loads.scaling.values, minlength=nb)
    qd = np.bincount(load_bus, weights=loads.q_mvar.values * loads.scaling.values, minlength=nb)
    has_load = np.unique(load_bus)

    rate = branch[:, 5].real / base
    rate = np.where((rate <= 0) | (rate * base >= UNLIMITED_MVA), np.inf, rate)
    coords = np.array([json.loads(g)["coordinates"] if isinstance(g, str) else [np.nan, np.nan] for g in net.bus.geo])
    return Network(
        case=case, base_mva=base, G=Ybus.real.copy(), B=Ybus.imag.copy(), bus_type=bus_type,
        vmin=net.bus.min_vm_pu.values.astype(float), vmax=net.bus.max_vm_pu.values.astype(float),
        gen_bus=gen_bus, pmin=np.array(pmin) / base, pmax=np.array(pmax) / base, qmin=np.array(qmin) / base,
        qmax=np.array(qmax) / base, cost=np.array(cost, dtype=float), load_bus=has_load, pd=pd[has_load] / base,
        qd=qd[has_load] / base, f_bus=branch[:, 0].real.astype(int), t_bus=branch[:, 1].real.astype(int),
        Yf_re=Yf.real.copy(), Yf_im=Yf.imag.copy(), Yt_re=Yt.real.copy(), Yt_im=Yt.imag.copy(), rate=rate,
        coords=coords.astype(float),
    )


def admittances(base_mva: float, bus: np.ndarray, branch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MATPOWER's bus and branch admittance matrices Y (nb × nb), Yf and Yt (nbr × nb), dense and complex.

    ``bus`` and ``branch`` are MATPOWER's tables (0-based bus numbers): branch (r, x, b, tap ratio, phase shift,
    status) as a π model with the ideal transformer at the from end, bus shunts (Gs, Bs) in MW and MVAr at 1 p.u.
    """
    nb, nbr = bus.shape[0], branch.shape[0]
    f, t = branch[:, 0].real.astype(int), branch[:, 1].real.astype(int)
    status = branch[:, 10].real
    ys = status / (branch[:, 2].real + 1j * branch[:, 3].real)
    bc = status * branch[:, 4].real
    ratio = np.where(branch[:, 8].real == 0, 1.0, branch[:, 8].real)
    tap = ratio * np.exp(1j * np.deg2rad(branch[:, 9].real))
    ytt = ys + 0.5j * bc
    yff = ytt / (tap * np.conj(tap))
    yft = -ys / np.conj(tap)
    ytf = -ys / tap
    rows = np.arange(nbr)
    Yf = np.zeros((nbr, nb), dtype=complex)
    Yt = np.zeros((nbr, nb), dtype=complex)
    np.add.at(Yf, (rows, f), yff)
    np.add.at(Yf, (rows, t), yft)
    np.add.at(Yt, (rows, f), ytf)
    np.add.at(Yt, (rows, t), ytt)
    Y = np.diag((bus[:, 4].real + 1j * bus[:, 5].real) / base_mva)
    np.add.at(Y, (f, slice(None)), Yf)
    np.add.at(Y, (t, slice(None)), Yt)
    return Y, Yf, Yt
