"""AC optimal power flow on an IEEE test network (chapter 10), in polar form.

    minimize   Σ_g c2 (S_base Pg)² + c1 (S_base Pg) + c0                           ($/h)
    subject to Pg_i − Pd_i = P_i(V),  Qg_i − Qd_i = Q_i(V)  at every bus i          (power flow, 2 nb equations)
               Va_ref = 0                                                           (reference angle)
               Pmin ≤ Pg ≤ Pmax,  Qmin ≤ Qg ≤ Qmax,  Vmin ≤ Vm ≤ Vmax,  |S_f|, |S_t| ≤ rating

with the injections P + jQ = diag(V) conj(Y V), V = Vm e^{j Va}, on the networks of :mod:`l2o_lib.problems.grid`
(MATPOWER's case57 and case118 as pandapower ships them, in per unit on 100 MVA). x = (Pg, Qg, Vm, Va): generator
active and reactive power (p.u.), bus voltage magnitudes (p.u.) and angles (rad). g(x; ξ) ≤ 0 stacks the bounds in
that order, then the thermal limits at both ends of the rated branches (|S| − rating, p.u.); h(x; ξ) is the power
mismatch at every bus (p.u.) and the reference angle.

**Parameters.** ξ = (Pd, Qd) at the load buses, p.u. :meth:`sample` follows the DC3 paper's protocol (Donti,
Rolnick and Kolter 2021, after Zamzam and Baker): load factors from a multivariate normal with mean 1, standard
deviation ``load_spread``/1.645 and correlation ``correlation`` between loads, truncated to 1 ± ``load_spread``
(so 90 % of the untruncated draws fall inside), Pd = factor · nominal Pd, and a power factor drawn uniformly from
``power_factor``: Qd = Pd tan(arccos pf), with the sign of the nominal Qd. Some draws have no feasible dispatch;
the reference reports them with IPOPT's status and they are left out of every score.

**Reference.** IPOPT through CasADi with exact first and second derivatives, from a flat start (Vm = 1, Va = 0,
generators at mid-range), tolerance 1e-8. On the nominal case57 loads it finds 41 737.79 $/h, MATPOWER's published
optimum (and 129 660.69 $/h on case118). :meth:`ipopt` solves one instance from any primal (and dual) start and
reports IPOPT's iterations: the warm starts of the chapter. :meth:`dc_opf` is the DC approximation (lossless,
|V| = 1, no reactive power), the classical starting point.

**Completion.** The family is :class:`~l2o_lib.problems.capabilities.EqualityCompletable`: given the
independent variables z = (Pg at the non-reference generators, Vm at the generator buses), the power-flow equations
determine the rest (Vm at the load buses, every Va, all Qg, the reference generator's Pg): solving them is a
Newton power flow, DC3's completion for this problem.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_numpy_array, is_torch_array

from l2o_lib.problems import grid
from l2o_lib.problems.base import OPTIMAL, ProblemFamily
from l2o_lib.problems.capabilities import EqualityCompletable, Pivots
from l2o_lib.problems.validate import check_range

#: IPOPT's options for the reference solves (a flat start); :meth:`ACOPF.ipopt` adds the warm-start ones
IPOPT_OPTIONS = {"ipopt.print_level": 0, "print_time": 0, "ipopt.sb": "yes", "ipopt.tol": 1e-8, "ipopt.max_iter": 500}
#: IPOPT's options when it starts from a given primal-dual point: keep the point, start with a small barrier
WARM_OPTIONS = {"ipopt.warm_start_init_point": "yes", "ipopt.mu_init": 1e-6, "ipopt.warm_start_bound_push": 1e-9,
                "ipopt.warm_start_bound_frac": 1e-9, "ipopt.warm_start_slack_bound_push": 1e-9,
                "ipopt.warm_start_slack_bound_frac": 1e-9, "ipopt.warm_start_mult_bound_push": 1e-9}


@dataclass(frozen=True)
class IpoptRun:
    """One IPOPT solve: the point, its objective f(x; ξ), IPOPT's status and iterations, the time, the multipliers.

    ``lam_g``: multipliers of the power-flow equations and line limits; ``lam_x``: of the variable bounds
    (CasADi's sign convention: positive at an upper bound, negative at a lower one).
    """

    x: np.ndarray
    objective: float
    status: str
    iterations: int
    seconds: float
    lam_g: np.ndarray
    lam_x: np.ndarray

    @property
    def ok(self) -> bool:
        return self.status == "Solve_Succeeded"


@dataclass(frozen=True)
class IpoptRuns:
    """IPOPT on a batch of instances (:meth:`ACOPF.ipopt_many`): one row per instance."""

    x: np.ndarray
    objective: np.ndarray
    status: np.ndarray
    iterations: np.ndarray
    seconds: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        return self.status == "Solve_Succeeded"


class ACOPF(ProblemFamily, EqualityCompletable):
    """AC-OPF on ``case`` (see :data:`l2o_lib.problems.grid.CASES`); ξ = (Pd, Qd) at the load buses.

    ``line_ratings``: extra thermal limits as pairs (branch index, rating in MVA), on top of the case's own.
    """

    key = "acopf"
    reference_solver = "IPOPT (casadi, exact Hessian)"

    def __init__(self, case: str = "case57", load_spread: float = 0.7, correlation: float = 0.5,
                 power_factor: tuple[float, float] = (0.8, 1.0), line_ratings: tuple = ()):
        where = f"acopf({case!r})"
        if not 0 < load_spread < 1:
            raise ValueError(f"{where}: load_spread must be in (0, 1) (load factors 1 ± spread stay positive), "
                             f"got {load_spread!r}")
        if not 0 <= correlation < 1:  # Σ = σ²(ρ 11ᵀ + (1 − ρ) I) is then positive definite
            raise ValueError(f"{where}: correlation must be in [0, 1), got {correlation!r}")
        pf_low, pf_high = check_range(where, "power_factor", power_factor)
        if not 0 < pf_low <= pf_high <= 1:
            raise ValueError(f"{where}: power_factor must lie in (0, 1], got {power_factor!r}")
        self.net = net = grid.network(case)
        self.case = case
        self.rating = net.rate.copy()
        for pair in line_ratings:
            if len(pair) != 2 or not isinstance(pair[0], (int, np.integer)) or not 0 <= pair[0] < net.n_branch:
                raise ValueError(f"{where}: line_ratings holds (branch index in [0, {net.n_branch}), MVA) pairs, "
                                 f"got {pair!r}")
            if not (np.isfinite(pair[1]) and pair[1] > 0):
                raise ValueError(f"{where}: rating of branch {pair[0]} must be a positive number of MVA, got {pair[1]!r}")
            self.rating[int(pair[0])] = float(pair[1]) / net.base_mva
        self.rated = np.flatnonzero(np.isfinite(self.rating))
        self.load_spread, self.correlation, self.power_factor = float(load_spread), float(correlation), (pf_low, pf_high)
        self.name = f"acopf_{case}" + ("_rated" if len(line_ratings) else "")

        nb, ng, nl = net.n_bus, net.n_gen, net.n_load
        self.n_bus, self.n_gen, self.n_load = nb, ng, nl
        self.n_vars = 2 * ng + 2 * nb
        self.n_eq = 2 * nb + 1
        self.n_ineq = 4 * ng + 2 * nb + 2 * len(self.rated)
        self.n_params = 2 * nl
        bus_no = np.arange(1, nb + 1)
        gb = bus_no[net.gen_bus]
        self.var_names = tuple([f"Pg{b}" for b in gb] + [f"Qg{b}" for b in gb] + [f"Vm{b}" for b in bus_no]
                               + [f"Va{b}" for b in bus_no])
        lb = bus_no[net.load_bus]
        self.param_names = tuple([f"Pd{b}" for b in lb] + [f"Qd{b}" for b in lb])
        # the domain Ξ: the box the sampler's truncation and power factors span
        tan_low, tan_high = np.tan(np.arccos(pf_high)), np.tan(np.arccos(pf_low))
        p_low, p_high = net.pd * (1 - load_spread), net.pd * (1 + load_spread)
        sign = np.sign(net.qd)
        q_a, q_b = sign * p_low * tan_low, sign * p_high * tan_high
        self.param_low = np.concatenate([p_low, np.minimum(q_a, q_b)])
        self.param_high = np.concatenate([p_high, np.maximum(q_a, q_b)])

        # index blocks of x and the incidence matrices the array-API code multiplies by
        self.pg, self.qg = np.arange(ng), np.arange(ng, 2 * ng)
        self.vm, self.va = np.arange(2 * ng, 2 * ng + nb), np.arange(2 * ng + nb, 2 * ng + 2 * nb)
        self._Cg = np.zeros((ng, nb))
        self._Cg[np.arange(ng), net.gen_bus] = 1.0
        self._Cl = np.zeros((nl, nb))
        self._Cl[np.arange(nl), net.load_bus] = 1.0
        self._G, self._B = net.G.copy(), net.B.copy()
        self._GT, self._BT = net.G.T.copy(), net.B.T.copy()
        self._x_low = np.concatenate([net.pmin, net.qmin, net.vmin])
        self._x_high = np.concatenate([net.pmax, net.qmax, net.vmax])
        self._cost = net.cost.copy()
        r = self.rated
        self._Yf = (net.Yf_re[r].T.copy(), net.Yf_im[r].T.copy())
        self._Yt = (net.Yt_re[r].T.copy(), net.Yt_im[r].T.copy())
        self._Cf = np.eye(nb)[net.f_bus[r]].T.copy()
        self._Ct = np.eye(nb)[net.t_bus[r]].T.copy()
        self._rate = self.rating[r].copy()

    # ------------------------------------------------------------------ sampling (the DC3 paper's protocol)
    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        nl, spread = self.n_load, self.load_spread
        sigma = spread / 1.645
        cov = sigma**2 * (self.correlation * np.ones((nl, nl)) + (1 - self.correlation) * np.eye(nl))
        chol = np.linalg.cholesky(cov)
        factors = np.empty((0, nl))
        while len(factors) < n:  # rejection: keep the draws with every factor inside 1 ± spread
            draw = 1.0 + rng.standard_normal((4 * n, nl)) @ chol.T
            inside = np.all(np.abs(draw - 1.0) < spread, axis=1)
            factors = np.concatenate([factors, draw[inside]])
        factors = factors[:n]
        pf = rng.uniform(*self.power_factor, size=(n, nl))
        pd = self.net.pd * factors
        qd = pd * np.tan(np.arccos(pf)) * np.sign(self.net.qd)
        return np.concatenate([pd, qd], axis=1)

    def nominal(self) -> np.ndarray:
        """The case's own loads as one instance, shape ``(1, n_params)``."""
        return np.concatenate([self.net.pd, self.net.qd])[None, :]

    # ------------------------------------------------------------------ the mathematics (array API)
    def split(self, x: Any) -> tuple[Any, Any, Any, Any]:
        """(Pg, Qg, Vm, Va) of a batch of x."""
        ng, nb = self.n_gen, self.n_bus
        return x[:, :ng], x[:, ng:2 * ng], x[:, 2 * ng:2 * ng + nb], x[:, 2 * ng + nb:]

    def injections(self, vm: Any, va: Any) -> tuple[Any, Any, Any, Any, Any, Any]:
        """P(V), Q(V) at every bus, and the rectangular parts vr, vi, Ir, Ii behind them."""
        xp = array_namespace(vm)
        vr, vi = vm * xp.cos(va), vm * xp.sin(va)
        GT, BT = self._const(self._GT, vm), self._const(self._BT, vm)
        ir = vr @ GT - vi @ BT  # I = Y V, one row per instance
        ii = vr @ BT + vi @ GT
        return vr * ir + vi * ii, vi * ir - vr * ii, vr, vi, ir, ii

    def _objective(self, x: Any, xi: Any) -> Any:
        pg = self.split(x)[0] * self.net.base_mva
        c = self._const(self._cost, x)
        return (pg * pg) @ c[:, 0] + pg @ c[:, 1] + c[:, 2].sum()

    def _eq(self, x: Any, xi: Any) -> Any:
        xp = array_namespace(x, xi)
        pg, qg, vm, va = self.split(x)
        p, q, *_ = self.injections(vm, va)
        Cg, Cl, nl = self._const(self._Cg, x), self._const(self._Cl, x), self.n_load
        return xp.concat([pg @ Cg - xi[:, :nl] @ Cl - p, qg @ Cg - xi[:, nl:] @ Cl - q,
                          va[:, self.net.ref:self.net.ref + 1]], axis=1)

    def _ineq(self, x: Any, xi: Any) -> Any:
        xp = array_namespace(x)
        bounded = x[:, :2 * self.n_gen + self.n_bus]
        low, high = self._const(self._x_low, x), self._const(self._x_high, x)
        parts = [bounded[:, :self.n_gen] - high[:self.n_gen], low[:self.n_gen] - bounded[:, :self.n_gen],
                 bounded[:, self.n_gen:2 * self.n_gen] - high[self.n_gen:2 * self.n_gen],
                 low[self.n_gen:2 * self.n_gen] - bounded[:, self.n_gen:2 * self.n_gen],
                 bounded[:, 2 * self.n_gen:] - high[2 * self.n_gen:], low[2 * self.n_gen:] - bounded[:, 2 * self.n_gen:]]
        if len(self.rated):
            s_from, s_to = self.branch_flows(x, rated_only=True)
            rate = self._const(self._rate, x)
            parts += [s_from - rate, s_to - rate]
        return xp.concat(parts, axis=1)

    def branch_flows(self, x: Any, *, rated_only: bool = False) -> tuple[Any, Any]:
        """|S| at the from and the to end of each branch (or of the rated ones), p.u., batched."""
        xp = array_namespace(x)
        _, _, vm, va = self.split(x)
        vr, vi = vm * xp.cos(va), vm * xp.sin(va)
        if rated_only:
            (fr, fi), (tr, ti), Cf, Ct = self._Yf, self._Yt, self._Cf, self._Ct
        else:
            (fr, fi), (tr, ti), Cf, Ct = self._all_branches
        out = []
        for (yr, yi), C in (((fr, fi), Cf), ((tr, ti), Ct)):
            yr, yi, C = self._const(yr, x), self._const(yi, x), self._const(C, x)
            ir, ii = vr @ yr - vi @ yi, vr @ yi + vi @ yr  # current into the branch at this end
            er, ei = vr @ C, vi @ C  # the end's voltage
            p, q = er * ir + ei * ii, ei * ir - er * ii
            out.append(xp.sqrt(p * p + q * q))
        return out[0], out[1]

    @cached_property
    def _all_branches(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], np.ndarray, np.ndarray]:
        net, eye = self.net, np.eye(self.n_bus)
        return ((net.Yf_re.T.copy(), net.Yf_im.T.copy()), (net.Yt_re.T.copy(), net.Yt_im.T.copy()),
                eye[net.f_bus].T.copy(), eye[net.t_bus].T.copy())

    def loading(self, x: np.ndarray) -> np.ndarray:
        """max(|S_f|, |S_t|) of every branch in MVA, batched (what the network drawing colours the lines by)."""
        s_from, s_to = self.branch_flows(np.asarray(x, dtype=float))
        return np.maximum(s_from, s_to) * self.net.base_mva

    # ------------------------------------------------------------------ completion (EqualityCompletable)
    @cached_property
    def _split_indices(self) -> tuple[np.ndarray, np.ndarray]:
        net = self.net
        ref_gen = np.flatnonzero(net.gen_bus == net.ref)
        pg_free = np.setdiff1d(self.pg, ref_gen)
        vm_gen = self.vm[np.sort(net.gen_bus)]
        independent = np.concatenate([pg_free, vm_gen])
        dependent = np.setdiff1d(np.arange(self.n_vars), independent)
        for a in (independent, dependent):
            a.setflags(write=False)
        return independent, dependent

    def completion_split(self) -> tuple[np.ndarray, np.ndarray]:
        """Independent: Pg at the non-reference generators and Vm at the generator buses (the set points a
        power flow takes); dependent: the reference Pg, every Qg, Vm at the load buses and every Va. (Copies: an
        index array is often handed to torch, which wants writable memory.)"""
        independent, dependent = self._split_indices
        return independent.copy(), dependent.copy()

    def completion_pivots(self) -> Pivots:
        """Each generator's Qg with the Vm of its bus: a generator at its reactive limit turns its bus from one
        with a set voltage (PV) into one with a set reactive power (PQ), what every power-flow program does."""
        net = self.net
        gens = np.sort(np.unique(net.gen_bus, return_index=True)[1])  # one generator per bus: distinct partners
        return Pivots(self.qg[gens], self.vm[net.gen_bus[gens]], net.qmin[gens].copy(), net.qmax[gens].copy())

    def completion_guess(self, xi: Any) -> Any:
        """A flat start for the power flow: Vm = 1, Va = 0, Qg = 0, reference Pg = 0."""
        xp = array_namespace(xi)
        return xp.broadcast_to(self._const(self._flat_guess, xi), (xi.shape[0], self.n_vars))

    @cached_property
    def _flat_guess(self) -> np.ndarray:
        flat = np.zeros(self.n_vars)
        flat[self.vm] = 1.0
        return flat

    @cached_property
    def _jacobian_pattern(self) -> dict[str, np.ndarray]:
        """Where ∂h/∂x can be nonzero: the (bus, bus) pairs of Y's pattern and the diagonal, their G and B, the
        flat positions of their ∂P/∂Vm, ∂P/∂Va, ∂Q/∂Vm, ∂Q/∂Va entries, and the constant rest of the matrix."""
        nb, nv = self.n_bus, self.n_vars
        i, k = np.nonzero((self._G != 0) | (self._B != 0) | np.eye(nb, dtype=bool))
        vm, va = self.vm[k], self.va[k]
        flat = np.concatenate([i * nv + vm, i * nv + va, (nb + i) * nv + vm, (nb + i) * nv + va])
        constant = np.zeros((self.n_eq, nv))
        constant[:nb, self.pg], constant[nb:2 * nb, self.qg] = self._Cg.T, self._Cg.T
        constant[2 * nb, self.va[self.net.ref]] = 1.0
        spread = np.zeros((nb, len(i)))  # bus -> its diagonal entry in the pattern
        diagonal = np.flatnonzero(i == k)
        spread[i[diagonal], diagonal] = 1.0
        return {"i": i, "k": k, "g": self._G[i, k], "b": self._B[i, k], "spread": spread, "flat": flat,
                "constant": constant}

    def eq_jacobian(self, x: Any, xi: Any) -> Any:
        """∂h/∂x, batched ``(batch, 2 nb + 1, n_vars)``: the polar power-flow Jacobian, evaluated on the admittance
        matrix's sparsity pattern only (numpy or torch arrays), and the constant generator and reference rows."""
        if not (is_numpy_array(x) or is_torch_array(x)):
            raise TypeError(f"{self.name}.eq_jacobian: needs numpy or torch arrays, got {type(x).__name__}")
        xp = array_namespace(x)
        pat = self._jacobian_pattern
        i, k, flat = (self._index(pat[key], x) for key in ("i", "k", "flat"))
        _, _, vm, va = self.split(x)
        _, _, vr, vi, ir, ii = self.injections(vm, va)
        cos, sin = xp.cos(va), xp.sin(va)
        g, b = self._const(pat["g"], x), self._const(pat["b"], x)
        vr_i, vi_i = vr[:, i], vi[:, i]
        # MATPOWER's dS/dVm and dS/dVa in real arithmetic, with Y_ik = g + j b: off the diagonal
        # ∂S_i/∂Vm_k = V_i conj(Y_ik e^{j Va_k}) and ∂S_i/∂Va_k = −j V_i conj(Y_ik V_k) ...
        a, c = g * cos[:, k] - b * sin[:, k], g * sin[:, k] + b * cos[:, k]
        p, q = g * vr[:, k] - b * vi[:, k], g * vi[:, k] + b * vr[:, k]
        parts = [vr_i * a + vi_i * c, vi_i * p - vr_i * q, vi_i * a - vr_i * c, -(vr_i * p + vi_i * q)]
        # ... plus, on the diagonal, the bus current's own terms conj(I_i) e^{j Va_i} and j V_i conj(I_i)
        own = [ir * cos + ii * sin, ii * vr - ir * vi, ir * sin - ii * cos, ii * vi + ir * vr]
        spread = self._const(pat["spread"], x)
        values = xp.concat([part + o @ spread for part, o in zip(parts, own)], axis=1)
        batch, constant = x.shape[0], self._const(pat["constant"], x)
        n = self.n_eq * self.n_vars
        out = xp.asarray(xp.broadcast_to(xp.reshape(constant, (1, n)), (batch, n)), copy=True)
        out[:, flat] = -values
        return xp.reshape(out, (batch, self.n_eq, self.n_vars))

    def _index(self, value: np.ndarray, like: Any) -> Any:
        """An index array for ``like``'s library (numpy as is, torch as a cached long tensor on its device)."""
        if is_numpy_array(like):
            return value
        import torch

        cache = self.__dict__.setdefault("_torch_indices", {})
        key = (id(value), like.device)
        if key not in cache:
            cache[key] = torch.as_tensor(value, dtype=torch.long, device=like.device)
        return cache[key]

    @cached_property
    def _bound_jacobian(self) -> np.ndarray:
        """∂g/∂x of the bound rows (constant): ±1 on Pg, Qg and Vm."""
        ng, nb = self.n_gen, self.n_bus
        J = np.zeros((4 * ng + 2 * nb, self.n_vars))
        for k, (block, size) in enumerate(((self.pg, ng), (self.qg, ng), (self.vm, nb))):
            start = sum(2 * m for m in (ng, ng, nb)[:k])
            J[start + np.arange(size), block] = 1.0
            J[start + size + np.arange(size), block] = -1.0
        return J

    def ineq_jacobian(self, x: Any, xi: Any) -> Any:
        """∂g/∂x, batched ``(batch, n_ineq, n_vars)``: the bounds' ±1 and, for rated branches, ∂|S|/∂(Vm, Va)."""
        xp = array_namespace(x)
        batch = x.shape[0]
        bounds = xp.broadcast_to(self._const(self._bound_jacobian, x), (batch, *self._bound_jacobian.shape))
        if not len(self.rated):
            return bounds
        _, _, vm, va = self.split(x)
        cos, sin = xp.cos(va), xp.sin(va)
        vr, vi = vm * cos, vm * sin
        rows = [bounds]
        zero = xp.zeros((batch, len(self.rated), 2 * self.n_gen), dtype=x.dtype, device=_device(x))
        for (yr, yi), C in ((self._Yf, self._Cf), (self._Yt, self._Ct)):
            yr, yi, C = self._const(yr, x), self._const(yi, x), self._const(C, x)
            ir, ii = vr @ yr - vi @ yi, vr @ yi + vi @ yr  # current into the branch at this end, (batch, nr)
            er, ei = vr @ C, vi @ C  # the end's voltage
            p, q = er * ir + ei * ii, ei * ir - er * ii
            size = xp.sqrt(p * p + q * q)[:, :, None]
            YrT, YiT, E = yr.T[None], yi.T[None], C.T[None]  # (1, nr, nb)
            ir, ii, er, ei, p, q = (a[:, :, None] for a in (ir, ii, er, ei, p, q))
            dp_dvr, dp_dvi = E * ir + er * YrT + ei * YiT, E * ii - er * YiT + ei * YrT
            dq_dvr, dq_dvi = -E * ii + ei * YrT - er * YiT, E * ir - ei * YiT - er * YrT
            ds_dvr, ds_dvi = (p * dp_dvr + q * dq_dvr) / size, (p * dp_dvi + q * dq_dvi) / size
            ck, sk, vrk, vik = cos[:, None, :], sin[:, None, :], vr[:, None, :], vi[:, None, :]
            rows.append(xp.concat([zero, ds_dvr * ck + ds_dvi * sk, -ds_dvr * vik + ds_dvi * vrk], axis=2))
        return xp.concat(rows, axis=1)

    # ------------------------------------------------------------------ IPOPT (CasADi, exact derivatives)
    def _casadi_model(self) -> tuple[Any, Any, Any, Any]:
        """x, ξ, f and the constraint vector (power balance, then |S|² of the rated branch ends) as CasADi SX."""
        import casadi as ca

        net, ng, nb, nl = self.net, self.n_gen, self.n_bus, self.n_load
        x, p = ca.SX.sym("x", self.n_vars), ca.SX.sym("xi", self.n_params)
        pg, qg, vm, va = x[:ng], x[ng:2 * ng], x[2 * ng:2 * ng + nb], x[2 * ng + nb:]
        sp = lambda a: ca.sparsify(ca.DM(a))  # noqa: E731
        vr, vi = vm * ca.cos(va), vm * ca.sin(va)
        G, B = sp(net.G), sp(net.B)
        ir, ii = ca.mtimes(G, vr) - ca.mtimes(B, vi), ca.mtimes(B, vr) + ca.mtimes(G, vi)
        P, Q = vr * ir + vi * ii, vi * ir - vr * ii
        Cg, Cl = sp(self._Cg.T), sp(self._Cl.T)
        balance = ca.vertcat(ca.mtimes(Cg, pg) - ca.mtimes(Cl, p[:nl]) - P, ca.mtimes(Cg, qg) - ca.mtimes(Cl, p[nl:]) - Q)
        flows = []
        for yr, yi, C in ((*self._Yf, self._Cf), (*self._Yt, self._Ct)):
            bir = ca.mtimes(sp(yr.T), vr) - ca.mtimes(sp(yi.T), vi)
            bii = ca.mtimes(sp(yi.T), vr) + ca.mtimes(sp(yr.T), vi)
            er, ei = ca.mtimes(sp(C.T), vr), ca.mtimes(sp(C.T), vi)
            flows.append((er * bir + ei * bii) ** 2 + (ei * bir - er * bii) ** 2)
        pmw = net.base_mva * pg
        f = ca.sum1(ca.DM(net.cost[:, 0]) * pmw**2 + ca.DM(net.cost[:, 1]) * pmw + ca.DM(net.cost[:, 2]))
        return x, p, f, ca.vertcat(balance, *flows)

    def _solver(self, warm: bool) -> Any:
        cache = self.__dict__.setdefault("_ipopt", {})
        if warm not in cache:
            import casadi as ca

            x, p, f, g = self._casadi_model()
            opts = {**IPOPT_OPTIONS, **(WARM_OPTIONS if warm else {})}
            cache[warm] = ca.nlpsol(f"acopf_{self.case}{'_warm' if warm else ''}", "ipopt",
                                    {"x": x, "p": p, "f": f, "g": g}, opts)
        return cache[warm]

    def variable_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of every variable (Va unbounded), shape ``(n_vars,)`` each."""
        nb = self.n_bus
        return np.concatenate([self._x_low, np.full(nb, -np.inf)]), np.concatenate([self._x_high, np.full(nb, np.inf)])

    @cached_property
    def _ipopt_bounds(self) -> dict[str, np.ndarray]:
        lbx, ubx = self.variable_bounds()
        lbx[self.va[self.net.ref]] = ubx[self.va[self.net.ref]] = 0.0
        n_flow = 2 * len(self.rated)
        nb = self.n_bus
        ubg = np.concatenate([np.zeros(2 * nb), np.tile(self._rate**2, 2)])
        lbg = np.concatenate([np.zeros(2 * nb), np.full(n_flow, -np.inf)])
        return {"lbx": lbx, "ubx": ubx, "lbg": lbg, "ubg": ubg}

    def flat_start(self) -> np.ndarray:
        """IPOPT's default start here: Vm = 1 (inside its bounds), Va = 0, generators at the middle of their ranges."""
        net = self.net
        return np.concatenate([(net.pmin + net.pmax) / 2, (net.qmin + net.qmax) / 2,
                               np.clip(1.0, net.vmin, net.vmax), np.zeros(self.n_bus)])

    def ipopt(self, xi: np.ndarray, x0: np.ndarray | None = None, *, lam_g0: np.ndarray | None = None,
              lam_x0: np.ndarray | None = None) -> IpoptRun:
        """Solve one instance ξ (shape ``(n_params,)``) with IPOPT from ``x0`` (default :meth:`flat_start`).

        With ``lam_g0``/``lam_x0`` (the multipliers of a previous or predicted solution) IPOPT starts from the
        primal-dual point as given (``warm_start_init_point``, a small initial barrier :data:`WARM_OPTIONS`);
        with ``x0`` alone it starts from x0 with its default multipliers and barrier.
        """
        xi = np.asarray(self.check_params(np.asarray(xi, dtype=float).reshape(1, -1), check_domain=False,
                                          where=f"{self.name}.ipopt"), dtype=float)[0]
        x0 = self.flat_start() if x0 is None else np.asarray(self.check_x(np.asarray(x0, dtype=float).reshape(1, -1),
                                                                          where=f"{self.name}.ipopt"))[0]
        warm = lam_g0 is not None or lam_x0 is not None
        solver = self._solver(warm)
        args = dict(x0=x0, p=xi, **self._ipopt_bounds)
        if warm:
            n_g = len(self._ipopt_bounds["lbg"])
            args["lam_g0"] = np.zeros(n_g) if lam_g0 is None else np.asarray(lam_g0, dtype=float)
            args["lam_x0"] = np.zeros(self.n_vars) if lam_x0 is None else np.asarray(lam_x0, dtype=float)
            if args["lam_g0"].shape != (n_g,) or args["lam_x0"].shape != (self.n_vars,):
                raise ValueError(f"{self.name}.ipopt: lam_g0 must have shape ({n_g},) and lam_x0 ({self.n_vars},), got "
                                 f"{args['lam_g0'].shape} and {args['lam_x0'].shape}")
        t0 = time.perf_counter()
        sol = solver(**args)
        seconds = time.perf_counter() - t0
        stats = solver.stats()
        x = np.asarray(sol["x"], dtype=float).ravel()
        return IpoptRun(x=x, objective=float(self._objective(x[None, :], xi[None, :])[0]),
                        status=str(stats.get("return_status", "unknown")), iterations=int(stats.get("iter_count", -1)),
                        seconds=seconds, lam_g=np.asarray(sol["lam_g"], dtype=float).ravel(),
                        lam_x=np.asarray(sol["lam_x"], dtype=float).ravel())

    def ipopt_many(self, xi: np.ndarray, x0: np.ndarray | None = None, *, lam_g0: np.ndarray | None = None,
                   lam_x0: np.ndarray | None = None) -> IpoptRuns:
        """:meth:`ipopt` on every row of ξ, each from its row of ``x0`` (and of the multipliers), one at a time."""
        xi = np.asarray(xi, dtype=float)
        n = len(xi)
        for name, a in (("x0", x0), ("lam_g0", lam_g0), ("lam_x0", lam_x0)):
            if a is not None and len(a) != n:
                raise ValueError(f"{self.name}.ipopt_many: {name} has {len(a)} rows but ξ has {n}")
        runs = [self.ipopt(xi[i], None if x0 is None else x0[i], lam_g0=None if lam_g0 is None else lam_g0[i],
                           lam_x0=None if lam_x0 is None else lam_x0[i]) for i in range(n)]
        return IpoptRuns(x=np.stack([r.x for r in runs]), objective=np.array([r.objective for r in runs]),
                         status=np.array([r.status for r in runs]), iterations=np.array([r.iterations for r in runs]),
                         seconds=np.array([r.seconds for r in runs]))

    def multipliers(self, x: np.ndarray, xi: np.ndarray, *, active_tol: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
        """Least-squares estimates of IPOPT's multipliers at a point x of one instance: (lam_g, lam_x).

        The bounds within ``active_tol`` of x are taken as active; the multipliers of the power-flow equations and
        of the active bounds then solve ∇f + ∂gᵀ λ_g + λ_x = 0 in the least-squares sense, with the signs a KKT
        point has (λ ≥ 0 on an upper bound, ≤ 0 on a lower one, in CasADi's convention) imposed by clipping. Rated
        line limits are taken as inactive. What a warm start can pass to IPOPT with a predicted point.
        """
        x = np.asarray(x, dtype=float).reshape(-1)
        xi = np.asarray(xi, dtype=float).reshape(1, -1)
        grad = np.zeros(self.n_vars)
        pg = x[self.pg] * self.net.base_mva
        grad[self.pg] = self.net.base_mva * (2 * self.net.cost[:, 0] * pg + self.net.cost[:, 1])
        # CasADi's balance rows are Cg·Pg − Pd − P(V): the first 2 nb rows of h
        J_bal = self.eq_jacobian(x[None], xi)[0, :2 * self.n_bus]
        low, high = self._ipopt_bounds["lbx"], self._ipopt_bounds["ubx"]
        at_high, at_low = x >= high - active_tol, x <= low + active_tol
        active = np.flatnonzero(at_high | at_low)
        M = np.concatenate([J_bal.T, np.eye(self.n_vars)[:, active]], axis=1)
        sol = np.linalg.lstsq(M, -grad, rcond=None)[0]
        lam_bal, mu = sol[:2 * self.n_bus], sol[2 * self.n_bus:]
        fixed = low[active] == high[active]
        mu = np.where(fixed, mu, np.where(at_high[active], np.maximum(mu, 0.0), np.minimum(mu, 0.0)))
        lam_x = np.zeros(self.n_vars)
        lam_x[active] = mu
        lam_g = np.concatenate([lam_bal, np.zeros(2 * len(self.rated))])
        return lam_g, lam_x

    def _solve_one(self, xi: np.ndarray, **_: Any) -> tuple[np.ndarray | None, float, str, float]:
        run = self.ipopt(xi)
        if not run.ok:
            # IPOPT's local infeasibility certificate: the canonical status, as the convex families report theirs
            status = "infeasible" if run.status == "Infeasible_Problem_Detected" else f"ipopt: {run.status}"
            return None, np.nan, status, run.seconds
        return run.x, run.objective, OPTIMAL, run.seconds

    # ------------------------------------------------------------------ the DC approximation
    @cached_property
    def _dc_solver(self) -> Any:
        import casadi as ca

        net, ng, nb, nl = self.net, self.n_gen, self.n_bus, self.n_load
        # the branch susceptance of the DC model, 1 / (x τ), read back from the series admittance −Yft = y_s / τ
        yft = net.Yf_re[np.arange(net.n_branch), net.t_bus] + 1j * net.Yf_im[np.arange(net.n_branch), net.t_bus]
        bdc = 1.0 / np.imag(-1.0 / yft)
        A = np.eye(nb)[net.f_bus] - np.eye(nb)[net.t_bus]  # branch-bus incidence
        Bf = bdc[:, None] * A
        Bbus = A.T @ Bf
        x, p = ca.SX.sym("x", ng + nb), ca.SX.sym("xi", nl)
        pg, th = x[:ng], x[ng:]
        balance = ca.mtimes(ca.sparsify(ca.DM(self._Cg.T)), pg) - ca.mtimes(ca.sparsify(ca.DM(self._Cl.T)), p) \
            - ca.mtimes(ca.sparsify(ca.DM(Bbus)), th)
        flows = ca.mtimes(ca.sparsify(ca.DM(Bf[self.rated])), th)
        pmw = net.base_mva * pg
        f = ca.sum1(ca.DM(net.cost[:, 0]) * pmw**2 + ca.DM(net.cost[:, 1]) * pmw + ca.DM(net.cost[:, 2]))
        solver = ca.nlpsol(f"dcopf_{self.case}", "ipopt", {"x": x, "p": p, "f": f, "g": ca.vertcat(balance, flows)},
                           IPOPT_OPTIONS)
        lbx = np.concatenate([net.pmin, np.full(nb, -np.inf)])
        ubx = np.concatenate([net.pmax, np.full(nb, np.inf)])
        lbx[ng + net.ref] = ubx[ng + net.ref] = 0.0
        rate = self.rating[self.rated]
        bounds = {"lbx": lbx, "ubx": ubx, "lbg": np.concatenate([np.zeros(nb), -rate]),
                  "ubg": np.concatenate([np.zeros(nb), rate])}
        return solver, bounds

    def dc_opf(self, xi: np.ndarray) -> np.ndarray:
        """The DC-OPF solution of one instance as a full x: its Pg and angles, Vm = 1, Qg at mid-range.

        The DC model drops losses, reactive power, voltage magnitudes and shunts (P = B θ, B from the branch
        reactances and taps): what a power engineer would warm-start an AC solver from. Raises ``ValueError`` when
        IPOPT does not solve the DC problem.
        """
        xi = np.asarray(self.check_params(np.asarray(xi, dtype=float).reshape(1, -1), check_domain=False,
                                          where=f"{self.name}.dc_opf"), dtype=float)[0]
        solver, bounds = self._dc_solver
        net, ng = self.net, self.n_gen
        sol = solver(x0=np.zeros(ng + self.n_bus), p=xi[:self.n_load], **bounds)
        status = solver.stats().get("return_status")
        if status != "Solve_Succeeded":
            raise ValueError(f"{self.name}.dc_opf: IPOPT did not solve the DC problem ({status})")
        z = np.asarray(sol["x"], dtype=float).ravel()
        return np.concatenate([z[:ng], (net.qmin + net.qmax) / 2, np.clip(1.0, net.vmin, net.vmax), z[ng:]])


def _device(x: Any) -> Any:
    from array_api_compat import device

    return device(x)
