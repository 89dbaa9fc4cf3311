"""Feasibility restoration x = F(x̂) in torch: DC3's equality completion and inequality correction,
and the NeuroMANCER DC3 model of chapter 4, with the loaders the pretrained registry rebuilds them with.

DC3 (Donti, Rolnick, Kolter 2021) for linear equalities A y = ξ:

* **completion**: a network predicts the free coordinates z = y_P; the others solve A_O y_O = ξ − A_P z,
  so y_O = A_O⁻¹ξ + M z with M = −A_O⁻¹A_P, and A y = ξ holds up to round-off;
* **correction**: K gradient steps on ½‖max(G y − h, 0)‖² taken in z (the chain rule through the
  completion, dy/dz = [I; M]), so that the equalities stay exact while the inequalities are repaired.

Both are differentiable, so the network is trained through them. For nonlinear equalities h(y; ξ) = 0 (a family
that is :class:`~l2o_lib.problems.capabilities.EqualityCompletable`, e.g. the power-flow equations of AC-OPF),
:class:`ImplicitCompletion` solves them by Newton's method and differentiates by the implicit function theorem,
dy_O/dz = −(∂h/∂y_O)⁻¹ ∂h/∂z; :func:`dc3_correct` then takes any differentiable g(y; ξ) ≤ 0, and
:func:`newton_correct` replaces its gradient steps by Gauss–Newton steps on the violated constraints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from l2o_lib.predict import module_device, numpy_predictor
from l2o_lib.problems.base import ProblemFamily
from l2o_lib.problems.capabilities import EqualityCompletable, LinearlyConstrained, require
from l2o_lib.torch.layers import qp_solve_ipm
from l2o_lib.torch.nets import MLP, Normalize, from_arrays

#: an inequality function g(y; ξ), batched: (batch, n) and (batch, n_params) to (batch, m)
Ineq = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# ---------------------------------------------------------------------------- DC3 on linear equalities


class EqualityCompletion(nn.Module):
    """y = complete(z, ξ): put z in the coordinates ``partial``, solve A y = ξ for the others."""

    def __init__(self, A: np.ndarray, partial: Sequence[int], dtype: torch.dtype = torch.float64):
        super().__init__()
        A = np.asarray(A, dtype=float)
        n_eq, n = A.shape
        partial = np.asarray(partial, dtype=int)
        other = np.setdiff1d(np.arange(n), partial)
        if len(other) != n_eq:
            raise ValueError(f"EqualityCompletion: {len(partial)} predicted coordinates leave {len(other)} to "
                             f"complete, but A has {n_eq} rows; they must match")
        A_o_inv = np.linalg.inv(A[:, other])
        order = np.argsort(np.concatenate([partial, other]))  # [z, y_O][:, order] = y
        self.n_vars, self.n_eq, self.n_partial = n, n_eq, len(partial)
        self.register_buffer("A_o_inv", torch.as_tensor(A_o_inv, dtype=dtype), persistent=False)
        self.register_buffer("M", torch.as_tensor(-A_o_inv @ A[:, partial], dtype=dtype), persistent=False)
        self.register_buffer("order", torch.as_tensor(order, dtype=torch.long), persistent=False)
        self.register_buffer("partial", torch.as_tensor(partial, dtype=torch.long), persistent=False)
        self.register_buffer("other", torch.as_tensor(other, dtype=torch.long), persistent=False)

    def forward(self, z: torch.Tensor, xi: torch.Tensor, guess: torch.Tensor | None = None) -> torch.Tensor:
        """The completed y (``guess`` is accepted for the nonlinear completions' sake and not needed here)."""
        y_o = xi @ self.A_o_inv.T + z @ self.M.T
        return torch.cat([z, y_o], dim=1)[:, self.order]

    def pullback(self, grad_y: torch.Tensor, y: torch.Tensor | None = None, xi: torch.Tensor | None = None
                 ) -> torch.Tensor:
        """The gradient in z of a function of y = complete(z, ξ): (dy/dz)ᵀ ∇_y = ∇_P + Mᵀ ∇_O (the same at every y)."""
        return grad_y[:, self.partial] + grad_y[:, self.other] @ self.M

    def sensitivity(self, y: torch.Tensor, xi: torch.Tensor, *, at_reference: bool = False) -> torch.Tensor:
        """dy/dz, the same at every point: [I; M] in the order of y, batched ``(batch, n_vars, n_partial)``."""
        dy = torch.cat([torch.eye(self.n_partial, dtype=self.M.dtype, device=self.M.device), self.M])[self.order]
        return dy.to(y.dtype).expand(y.shape[0], -1, -1)


class NullSpaceCompletion(nn.Module):
    """y = A⁺ξ + N z with N an orthonormal basis of null(A): A y = ξ for every z, and z ↦ y is an isometry."""

    def __init__(self, A: np.ndarray, dtype: torch.dtype = torch.float64):
        super().__init__()
        A = np.asarray(A, dtype=float)
        n_eq, n = A.shape
        _, s, vt = np.linalg.svd(A)
        if s[-1] < 1e-12 * s[0]:
            raise ValueError("NullSpaceCompletion: A must have full row rank")
        self.n_vars, self.n_eq, self.n_partial = n, n_eq, n - n_eq
        self.register_buffer("A_pinv", torch.as_tensor(np.linalg.pinv(A), dtype=dtype), persistent=False)
        self.register_buffer("N", torch.as_tensor(vt[n_eq:].T, dtype=dtype), persistent=False)

    def forward(self, z: torch.Tensor, xi: torch.Tensor, guess: torch.Tensor | None = None) -> torch.Tensor:
        return xi @ self.A_pinv.T + z @ self.N.T

    def pullback(self, grad_y: torch.Tensor, y: torch.Tensor | None = None, xi: torch.Tensor | None = None
                 ) -> torch.Tensor:
        """(dy/dz)ᵀ ∇_y = Nᵀ ∇_y."""
        return grad_y @ self.N

    def sensitivity(self, y: torch.Tensor, xi: torch.Tensor, *, at_reference: bool = False) -> torch.Tensor:
        """dy/dz = N at every point, batched ``(batch, n_vars, n_partial)``."""
        return self.N.to(y.dtype).expand(y.shape[0], -1, -1)


class ImplicitCompletion(nn.Module):
    """y = complete(z, ξ) for an :class:`~l2o_lib.problems.capabilities.EqualityCompletable` family.

    Forward: the family's Newton iteration solves h(y; ξ) = 0 for the dependent coordinates. With ``reference``, a
    point (x, ξ) of the family, the iteration starts from x's dependent coordinates and reuses the Jacobian there
    (a chord iteration, finished by Newton steps where needed), and :meth:`sensitivity` can return dy/dz at x.
    Backward: the implicit function theorem, one linear solve with ∂h/∂y_O at the solution instead of
    differentiating through the iterations. ``last_converged`` holds the rows of the last call that converged.
    """

    def __init__(self, family: ProblemFamily, reference: tuple[np.ndarray, np.ndarray] | None = None,
                 tol: float = 1e-10, max_iter: int = 30):
        super().__init__()
        require(family, EqualityCompletable, "ImplicitCompletion")
        partial, other = family.completion_split()
        self.family, self.tol, self.max_iter = family, float(tol), int(max_iter)
        self.n_vars, self.n_eq, self.n_partial = family.n_vars, len(other), len(partial)
        self.register_buffer("partial", torch.tensor(partial, dtype=torch.long), persistent=False)
        self.register_buffer("other", torch.tensor(other, dtype=torch.long), persistent=False)
        chord = x_start = dy_ref = None
        if reference is not None:
            x_ref, xi_ref = (np.asarray(a, dtype=float).reshape(1, -1) for a in reference)
            chord = torch.as_tensor(family.chord_matrix(x_ref, xi_ref))
            x_start = torch.as_tensor(x_ref)
            dy_ref = self.sensitivity(x_start, torch.as_tensor(xi_ref))[0]
        self.pivots = family.completion_pivots()
        chord_pivots = None
        if reference is not None and len(self.pivots.dependent):
            J_ref = torch.as_tensor(family.eq_jacobian(x_ref, xi_ref)[0])
            chord_pivots = chord @ (J_ref[:, self.pivots.independent] - J_ref[:, self.pivots.dependent])
        self.register_buffer("chord", chord, persistent=False)
        self.register_buffer("chord_pivots", chord_pivots, persistent=False)
        self.register_buffer("x_start", x_start, persistent=False)
        self.register_buffer("dy_ref", dy_ref, persistent=False)
        self.last_converged: torch.Tensor | None = None
        self.last_held: torch.Tensor | None = None

    def forward(self, z: torch.Tensor, xi: torch.Tensor, guess: torch.Tensor | None = None) -> torch.Tensor:
        return _Complete.apply(z, xi, self, guess)

    def solve(self, z: torch.Tensor, xi: torch.Tensor, guess: torch.Tensor | None = None) -> torch.Tensor:
        """The completed y without autograd (what the forward pass computes)."""
        chord = None if self.chord is None else self.chord.to(z.dtype)
        if guess is None and self.x_start is not None:
            guess = self.x_start.to(z.dtype).expand(z.shape[0], -1)
        out = self.family.complete(z.detach(), xi.detach(), guess=None if guess is None else guess.detach(),
                                   chord=chord, tol=self.tol, max_iter=self.max_iter)
        self.last_converged = out.converged
        return out.x

    def hold(self, y: torch.Tensor, xi: torch.Tensor, *, margin: float = 1e-6, rounds: int | None = None,
             max_iter: int = 100) -> torch.Tensor:
        """The completed points y with the family's pivot pairs switched where they left their bounds.

        Where a pivot's dependent variable is out of its bounds (a generator beyond its reactive limit), it is held
        ``margin`` inside the bound and its independent partner (the bus voltage) is solved for instead, by the
        family's Woodbury-corrected chord iteration (:meth:`~l2o_lib.problems.capabilities.EqualityCompletable.
        complete_held`), in passes while a switch pushes another pair out (at most ``rounds``; default: as many as
        there are pairs, since each pass switches at least one more), each of at most ``max_iter`` chord steps (far
        from the reference they converge more slowly than the completion's own). A row whose switched
        solve does not converge keeps its last converged point. ``last_held`` holds the switched pairs of each row.
        Needs the completion built with ``reference=``. Not differentiated through (a test-time step).
        """
        if self.chord_pivots is None:
            raise ValueError("ImplicitCompletion.hold: needs a family with pivots and the completion built with "
                             "reference=")
        piv = self.pivots
        rounds = len(piv.dependent) if rounds is None else int(rounds)
        if margin < 0 or rounds < 1:
            raise ValueError(f"ImplicitCompletion.hold: need margin ≥ 0 and rounds ≥ 1, got {margin}, {rounds}")
        low, high = (torch.as_tensor(a, dtype=y.dtype, device=y.device) for a in (piv.low, piv.high))
        dep = torch.as_tensor(piv.dependent, device=y.device)
        y = y.detach().clone()
        held = torch.zeros(y.shape[0], len(dep), dtype=torch.bool, device=y.device)
        with torch.no_grad():
            for _ in range(rounds):
                v = y[:, dep]
                over, under = (v > high) & ~held, (v < low) & ~held
                rows = torch.nonzero((over | under).any(dim=1)).flatten()
                if len(rows) == 0:
                    break
                now = held[rows] | over[rows] | under[rows]
                start = y[rows]
                start[:, dep] = torch.where(over[rows], high - margin, torch.where(under[rows], low + margin, v[rows]))
                out = self.family.complete_held(start, xi[rows].detach(), now, chord=self.chord.to(y.dtype),
                                                chord_pivots=self.chord_pivots.to(y.dtype), tol=self.tol,
                                                max_iter=max_iter)
                ok = out.converged  # a row with NaN has no residual ≤ tol
                y[rows[ok]], held[rows[ok]] = out.x[ok], now[ok]
                if not bool(ok.any()):
                    break
        self.last_held = held
        return y

    def _jacobians(self, y: torch.Tensor, xi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        J = self.family.eq_jacobian(y, xi)
        return J[:, :, self.partial], J[:, :, self.other]

    def pullback(self, grad_y: torch.Tensor, y: torch.Tensor | None = None, xi: torch.Tensor | None = None
                 ) -> torch.Tensor:
        """(dy/dz)ᵀ ∇_y at the completed point y = ∇_P − (∂h/∂z)ᵀ (∂h/∂y_O)⁻ᵀ ∇_O (differentiable in y)."""
        if y is None or xi is None:
            raise ValueError("ImplicitCompletion.pullback needs the completed point y and ξ: dy/dz depends on them")
        J_p, J_o = self._jacobians(y, xi)
        v = torch.linalg.solve(J_o.transpose(1, 2), grad_y[:, self.other, None])
        return grad_y[:, self.partial] - (J_p.transpose(1, 2) @ v)[:, :, 0]

    def sensitivity(self, y: torch.Tensor, xi: torch.Tensor, *, at_reference: bool = False) -> torch.Tensor:
        """dy/dz at the completed point y, batched ``(batch, n_vars, n_partial)``; with ``at_reference`` the one at
        the reference point for every row (no Jacobian, no solve: an approximation that Gauss–Newton tolerates)."""
        if at_reference:
            if self.dy_ref is None:
                raise ValueError("ImplicitCompletion.sensitivity: at_reference needs the completion built with reference=")
            return self.dy_ref.to(y.dtype).expand(y.shape[0], -1, -1)
        J_p, J_o = self._jacobians(y, xi)
        dy = torch.zeros(y.shape[0], self.n_vars, self.n_partial, dtype=y.dtype, device=y.device)
        dy[:, self.partial] = torch.eye(self.n_partial, dtype=y.dtype, device=y.device)
        dy[:, self.other] = -torch.linalg.solve(J_o, J_p)
        return dy


class _Complete(torch.autograd.Function):
    """The completion as one autograd node: Newton forward, implicit-function backward."""

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, xi: torch.Tensor, module: ImplicitCompletion,
                guess: torch.Tensor | None) -> torch.Tensor:
        y = module.solve(z, xi, guess)
        ctx.module = module
        ctx.save_for_backward(y, xi)
        return y

    @staticmethod
    def backward(ctx: Any, grad_y: torch.Tensor) -> tuple[Any, ...]:
        y, xi = ctx.saved_tensors
        module = ctx.module
        J_p, J_o = module._jacobians(y, xi)
        v = torch.linalg.solve(J_o.transpose(1, 2), grad_y[:, module.other, None])[:, :, 0]  # (∂h/∂y_O)⁻ᵀ ∇_O
        grad_z = grad_y[:, module.partial] - (J_p.transpose(1, 2) @ v[:, :, None])[:, :, 0]
        grad_xi = None
        if ctx.needs_input_grad[1]:  # dy_O/dξ = −(∂h/∂y_O)⁻¹ ∂h/∂ξ, as a vector-Jacobian product of h
            with torch.enable_grad():
                xi_ = xi.detach().requires_grad_(True)
                (grad_xi,) = torch.autograd.grad(module.family.eq_residual(y.detach(), xi_), xi_, grad_outputs=-v)
        return grad_z, grad_xi, None, None


def violation_grad(y: torch.Tensor, xi: torch.Tensor, G: torch.Tensor | None = None, h: torch.Tensor | None = None,
                   ineq: Ineq | None = None) -> torch.Tensor:
    """∇_y ½‖max(g(y; ξ), 0)‖² for g = G y − h, or for any differentiable ``ineq(y, ξ)`` (by autograd)."""
    if ineq is None:
        return torch.relu(y @ G.T - h) @ G
    with torch.enable_grad():
        y_ = y if y.requires_grad else y.detach().requires_grad_(True)
        phi = 0.5 * (torch.relu(ineq(y_, xi)) ** 2).sum()
        (grad,) = torch.autograd.grad(phi, y_, create_graph=y.requires_grad)
    return grad


def dc3_correct(z: torch.Tensor, xi: torch.Tensor, complete: nn.Module, G: torch.Tensor | None = None,
                h: torch.Tensor | None = None, steps: int = 10, step_size: float = 1e-3, momentum: float = 0.5,
                trace: list[torch.Tensor] | None = None, *, ineq: Ineq | None = None) -> torch.Tensor:
    """DC3's inequality correction: ``steps`` momentum gradient steps on ½‖max(g(y), 0)‖² in z.

    g(y) = G y − h, or ``ineq(y, ξ)``. Returns the completed, corrected y; with ``trace`` a list, appends y after
    every step (y⁰ first).
    """
    if steps < 0 or step_size < 0:
        raise ValueError(f"dc3_correct: need steps ≥ 0 and step_size ≥ 0, got {steps}, {step_size}")
    if (ineq is None) == (G is None or h is None):
        raise ValueError("dc3_correct: give the linear inequalities G and h, or a function ineq(y, ξ), not both")
    y = complete(z, xi)
    velocity = torch.zeros_like(z)
    if trace is not None:
        trace.append(y)
    for _ in range(steps):
        grad_y = violation_grad(y, xi, G, h, ineq)  # ∇_y ½‖max(g(y), 0)‖²
        velocity = momentum * velocity + step_size * complete.pullback(grad_y, y, xi)
        z = z - velocity
        y = complete(z, xi, guess=y)
        if trace is not None:
            trace.append(y)
    return y


def ineq_jacobian(ineq: Ineq, y: torch.Tensor, xi: torch.Tensor, jacobian: Ineq | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """g(y; ξ) and ∂g/∂y, batched ``(batch, m)`` and ``(batch, m, n)``: ``jacobian(y, ξ)`` when given (a family's
    closed form, :class:`~l2o_lib.problems.capabilities.InequalityJacobian`), else reverse mode, all rows at once."""
    if jacobian is not None:
        return ineq(y, xi), jacobian(y, xi)
    with torch.enable_grad():
        y_ = y.detach().requires_grad_(True)
        g = ineq(y_, xi)
        m = g.shape[1]
        basis = torch.eye(m, dtype=g.dtype, device=g.device)[:, None, :].expand(m, *g.shape)
        (J,) = torch.autograd.grad(g, y_, grad_outputs=basis, is_grads_batched=True)
    return g.detach(), J.transpose(0, 1)


def newton_correct(z: torch.Tensor, xi: torch.Tensor, complete: nn.Module, ineq: Ineq, steps: int = 4,
                   margin: float = 1e-6, band: float = 0.05, qp_iters: int = 25, max_rows: int | None = 16,
                   exact_sensitivity: bool = True,
                   ineq_jac: Ineq | None = None, trace: list[torch.Tensor] | None = None,
                   start: torch.Tensor | None = None) -> torch.Tensor:
    """Gauss–Newton correction of the inequalities through the completion (the equalities stay exact).

    At each of ``steps`` steps, the inequalities within ``band`` of their bound (at most ``max_rows`` of them, the
    most violated first; None: all) are linearized in z,
    J = ∂g/∂y · dy/dz, and z moves by the shortest step that satisfies them with ``margin`` to spare
    (:func:`linearized_projection`, a small QP per instance), then the completion solves the equalities again.
    Full steps are taken (a first step may violate a constraint that was not near its bound; the next one repairs
    it) and each row returns its least violating point; a row whose completion fails stops there. Only rows that
    violate something move. Where DC3's gradient steps need one step size for every constraint's curvature at once,
    this step is scale-free: one step removes the violations of linear constraints.

    ``exact_sensitivity=False`` uses dy/dz at the completion's reference point (no Jacobian per step, slower
    convergence); ``ineq_jac`` gives ∂g/∂y in closed form (default: autograd). Not differentiated through (a
    test-time correction); returns the corrected y, appended to ``trace`` after every step. ``start``: the completed
    point of z when it is already at hand (it must satisfy the equalities with z as its independent part).
    """
    if steps < 0 or margin < 0 or band <= margin or qp_iters < 1 or (max_rows is not None and max_rows < 1):
        raise ValueError(f"newton_correct: need steps ≥ 0, margin ≥ 0, band > margin, qp_iters ≥ 1 and max_rows ≥ 1, "
                         f"got {steps}, {margin}, {band}, {qp_iters}, {max_rows}")
    with torch.no_grad():
        z = z.detach().clone()
        y = complete(z, xi).clone() if start is None else start.detach().clone()
        worst = torch.relu(ineq(y, xi)).amax(dim=1)
        best = y.clone()
        if trace is not None:
            trace.append(y.clone())
        moving = worst > 0
        for _ in range(steps):
            rows = torch.nonzero(moving).flatten()
            if len(rows) == 0:
                break
            yr, xir = y[rows], xi[rows]
            g, Jy = ineq_jacobian(ineq, yr, xir, ineq_jac)
            k = int((g > -band).sum(dim=1).max())  # the k largest g of each row hold its band
            k = k if max_rows is None else min(k, max_rows)  # a constraint left out is caught at the next step
            near = torch.argsort(g, dim=1, descending=True)[:, :k]
            g, Jy = torch.gather(g, 1, near), torch.gather(Jy, 1, near[:, :, None].expand(-1, -1, Jy.shape[2]))
            dy = complete.sensitivity(yr, xir, at_reference=not exact_sensitivity)
            z_new = z[rows] + linearized_projection(Jy @ dy, g, margin, qp_iters)  # J = dg/dz, (rows, k, nz)
            y_new = complete(z_new, xir, guess=yr)
            ok = _converged(complete, y_new)  # a row whose completion fails stops where it is
            moving[rows[~ok]] = False
            rows, z_new, y_new = rows[ok], z_new[ok], y_new[ok]
            z[rows], y[rows] = z_new, y_new
            new_worst = torch.relu(ineq(y_new, xi[rows])).amax(dim=1)
            better = new_worst < worst[rows]  # a full Gauss-Newton step may first make things worse: keep the best
            best[rows[better]], worst[rows[better]] = y_new[better], new_worst[better]
            moving[rows[new_worst <= 0]] = False
            if trace is not None:
                trace.append(best.clone())
    return best


def linearized_projection(J: torch.Tensor, g: torch.Tensor, margin: float = 0.0, max_iter: int = 30) -> torch.Tensor:
    """Δ = argmin ½‖Δ‖² s.t. g + J Δ ≤ −margin, batched (J ``(batch, m, n)``, g ``(batch, m)``): the shortest step
    onto the linearized inequalities, by chapter 3's batched interior point (an n × n system per iteration)."""
    batch, _, n = J.shape
    eye = torch.eye(n, dtype=J.dtype, device=J.device).expand(batch, n, n)
    none = J.new_zeros(batch, 0, n)
    return qp_solve_ipm(eye, J.new_zeros(batch, n), none, J.new_zeros(batch, 0), J, -(g + margin), max_iter=max_iter,
                        tol=1e-9).x


def _converged(complete: nn.Module, y: torch.Tensor) -> torch.Tensor:
    """The rows of the last completion that converged (every row for a linear completion)."""
    flags = getattr(complete, "last_converged", None)
    ok = torch.ones(y.shape[0], dtype=torch.bool, device=y.device) if flags is None else flags.to(y.device)
    return ok & torch.isfinite(y).all(dim=1)


class DC3Net(nn.Module):
    """DC3 for a linearly constrained family with equalities A y = ξ and fixed inequalities G y ≤ h (the DC3 QP).

    ``mode``: ``"penalty"`` (the net predicts all of y), ``"completion"`` (predict z, complete), or
    ``"dc3"`` (complete, then ``steps`` correction steps of size ``step_size``). ``completion``:
    ``"split"`` (DC3's: predict the first n − n_eq coordinates) or ``"nullspace"`` (y = A⁺ξ + N z).
    """

    MODES = ("penalty", "completion", "dc3")

    def __init__(self, family: ProblemFamily, mode: str = "dc3", hidden: Sequence[int] = (200, 200),
                 activation: str = "relu", steps: int = 10, step_size: float = 1e-3, momentum: float = 0.5,
                 completion: str = "split"):
        super().__init__()
        if mode not in self.MODES:
            raise KeyError(f"unknown DC3Net mode {mode!r}; known: {list(self.MODES)}")
        require(family, LinearlyConstrained, "DC3Net")
        sf = family.standard_form()
        m = family.n_params
        if not (np.array_equal(sf.b0, np.zeros(sf.A.shape[0])) and np.array_equal(sf.B, np.eye(m)) and not sf.H.any()):
            raise ValueError(f"DC3Net completes A y = ξ with fixed G y ≤ h; {family.name}'s standard form has "
                             "b(ξ) ≠ ξ or an h that depends on ξ")
        if completion not in ("split", "nullspace"):
            raise KeyError(f"unknown completion {completion!r}; known: ['split', 'nullspace']")
        partial = np.arange(family.n_vars - sf.A.shape[0])  # DC3's split: the first n − n_eq are predicted
        self.mode, self.steps, self.step_size, self.momentum = mode, int(steps), float(step_size), float(momentum)
        n_out = family.n_vars if mode == "penalty" else len(partial)
        self.normalize = Normalize(family.param_low, family.param_high)
        self.mlp = MLP(family.n_params, n_out, hidden, activation)
        self.complete = (EqualityCompletion(sf.A, partial) if completion == "split" else NullSpaceCompletion(sf.A))
        self.register_buffer("G", torch.tensor(sf.G, dtype=torch.float64), persistent=False)
        self.register_buffer("h", torch.tensor(sf.h0, dtype=torch.float64), persistent=False)
        self.config = {"mode": mode, "hidden": list(map(int, hidden)), "activation": activation,
                       "steps": self.steps, "step_size": self.step_size, "momentum": self.momentum,
                       "completion": completion}

    def forward(self, xi: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        out = self.mlp(self.normalize(xi))
        if self.mode == "penalty":
            return out
        k = self.steps if steps is None else int(steps)
        if self.mode == "completion":
            k = 0 if steps is None else k
        return dc3_correct(out, xi, self.complete, self.G, self.h, k, self.step_size, self.momentum)


def load_dc3_qp(family: ProblemFamily, arrays: dict[str, np.ndarray], config: dict[str, Any]
                ) -> Callable[[np.ndarray], np.ndarray]:
    """Pretrained-registry loader for :class:`DC3Net` (float64, CPU, test-time steps from the card)."""
    model = DC3Net(family, config["mode"], config["hidden"], config["activation"], config["steps"],
                   config["step_size"], config["momentum"], config.get("completion", "split")).double()
    from_arrays(model, arrays)
    steps = config.get("test_steps", config["steps"])
    return numpy_predictor(lambda xi: model(xi, steps=steps))


# ---------------------------------------------------------------------------- DC3 in NeuroMANCER (2-D problem)


def nm_dc3_nonconvex_2d(hidden: Sequence[int] = (80, 80, 80, 80), steps: int = 5, step_size: float = 0.05,
                        decay: float = 0.1, penalty: float = 10.0) -> Any:
    """The NeuroMANCER DC3 model of the 2-D nonconvex problem: MLP map, GradientProjection, penalty loss.

    Returns the ``neuromancer.problem.Problem``; its nodes are ``[map, correction]`` where ``map`` reads
    ``p`` and ``a`` and writes ``x``, and ``correction`` takes ``steps`` gradient steps on the mean
    inequality violation (step ``step_size``, shrunk by a factor ``1 − decay`` after each step).
    """
    from l2o_lib.torch.nm import neuromancer as nm

    variable, Node = nm.constraint.variable, nm.system.Node
    net = nm.modules.blocks.MLP(insize=2, outsize=2, bias=True, linear_map=nm.slim.maps["linear"],
                                nonlin=nn.ReLU, hsizes=list(map(int, hidden)))
    solution_map = Node(net, ["p", "a"], ["x"], name="map")
    p, a, x = variable("p"), variable("a"), variable("x")
    x1, x2 = x[:, [0]], x[:, [1]]
    f = (1 - x1) ** 2 + a * (x2 - x1**2) ** 2
    objective = f.minimize(weight=1.0, name="f")
    inner = penalty * (x1**2 + x2**2 >= (p / 2) ** 2)
    outer = penalty * (x1**2 + x2**2 <= p**2)
    half = penalty * (x1 >= x2)
    for con, name in ((inner, "inner"), (outer, "outer"), (half, "half_plane")):
        con.name = name
    correction = nm.modules.solvers.GradientProjection([inner, outer, half], input_keys=["x"], num_steps=steps,
                                                       step_size=step_size, decay=decay, name="correction")
    loss = nm.loss.PenaltyLoss([objective], [inner, outer, half])
    return nm.problem.Problem([solution_map, correction], loss, grad_inference=True)


def nm_predict(problem: Any, xi: np.ndarray, steps: int | None = None, trace: bool = False) -> np.ndarray:
    """x = F(π_θ(ξ)) from the NeuroMANCER DC3 model, with ``steps`` correction steps (default: as trained).

    With ``trace=True`` returns all iterates, shape ``(steps + 1, batch, 2)``: x⁰ = π_θ(ξ), then each step.
    """
    xi = np.asarray(xi, dtype=float)
    if xi.ndim != 2 or xi.shape[1] != 2:
        raise ValueError(f"nm_predict: ξ must have shape (batch, 2) for (p, a), got {xi.shape}")
    solution_map, correction = problem.nodes[0], problem.nodes[1]
    k_trained = correction.num_steps
    k = k_trained if steps is None else int(steps)
    if k < 0:
        raise ValueError(f"nm_predict: steps must be ≥ 0, got {k}")
    xi_t = torch.as_tensor(xi, dtype=torch.float32, device=module_device(problem) or "cpu")
    data = {"p": xi_t[:, :1], "a": xi_t[:, 1:]}
    out = []
    try:
        with torch.enable_grad():
            data = {**data, **solution_map(data)}
            out.append(data["x"].detach())
            for kk in range(1, k + 1) if trace else [k]:
                correction.num_steps = kk
                out.append(correction(dict(data))["x"].detach())
    finally:
        correction.num_steps = k_trained
    xs = torch.stack(out).cpu().numpy().astype(float)
    return xs if trace else xs[-1]


def load_dc3_nonconvex_2d(family: ProblemFamily, arrays: dict[str, np.ndarray], config: dict[str, Any]
                          ) -> Callable[[np.ndarray], np.ndarray]:
    """Pretrained-registry loader for :func:`nm_dc3_nonconvex_2d` (test-time steps from the card)."""
    problem = nm_dc3_nonconvex_2d(config["hidden"], config["steps"], config["step_size"], config["decay"],
                                  config["penalty"])
    from_arrays(problem, arrays)
    steps = config.get("test_steps", config["steps"])
    return lambda xi: nm_predict(problem, xi, steps)
