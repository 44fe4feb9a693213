"""Inner solvers: fit a linear classifier with bias on (phi2_tr, Y_tr), predict on phi2_te.

Every solver returns logits on the test part that are differentiable with respect to the
soft labels Y_tr, so the outer loss can be differentiated through the inner problem
(paper Eq. 7, inner arg-min).

``UnrolledGD`` is the paper's solver: ``inner_steps`` full-batch gradient-descent steps on the
soft-target cross-entropy, written out as tensor operations so that autograd differentiates
through every step (the exact second-order hypergradient) without ``create_graph``. The
steps and their reverse pass are written by hand in one autograd Function (the adjoint of the
same recursion, so the hypergradient is the same exact one, checked against finite
differences), and :meth:`UnrolledGD.fit_predict_union` solves all splits of an outer step at
once on the union of their rows: one (rows x d) by (d x splits*k) product per step instead of
one skinny (d x k) product per split.

``Ridge`` is the fast solver: ridge-regularised least squares with bias, whose fitted
classifier is a closed form of the labels, ``V = (Xc^T Xc + lambda I)^-1 Xc^T Y``. Its
hypergradient is exact and costs one product with a cached inverse: for a split that comes
back (a fixed pool of splits), the factorisation is computed once.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import Tensor


def gather_rows(x: Tensor, idx: Tensor) -> Tensor:
    """Rows ``idx`` of x (n, d), in float32 when x is stored in half precision."""
    rows = x[idx]
    return rows.float() if rows.dtype in (torch.float16, torch.bfloat16) else rows


class InnerSolver(ABC):
    """One interface for all inner solvers."""

    name: str = "base"
    #: True when the autograd graph of one split is small (no unrolled steps), so that the
    #: search may keep all splits of a step in one graph and backpropagate once.
    light_graph: bool = False
    #: True when the solver has ``draw_init`` and ``fit_predict_union`` (all splits of a step
    #: solved together); the search then uses them instead of ``fit_predict``.
    batches_splits: bool = False

    def reset(self, dim: int, n_classes: int, generator: torch.Generator) -> None:  # noqa: B027
        """Called once before a search; solvers that keep state (a fixed init) draw it here."""

    @abstractmethod
    def fit_predict(
        self,
        phi2: Tensor,
        train_idx: Tensor,
        test_idx: Tensor,
        y_tr: Tensor,
        generator: torch.Generator,
        split_id: int | None = None,
    ) -> Tensor:
        """Fit on rows ``train_idx`` of phi2 (n, d) with labels y_tr (m, k); return the
        outputs (m', k) on rows ``test_idx``.

        ``split_id`` names a split that may come back (a pooled split), so that solvers can
        cache work that depends on the features only; None means "not seen again".
        """


def linear_init(
    dim: int, n_classes: int, generator: torch.Generator, device: torch.device, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    """``nn.Linear``'s default init: U(-1/sqrt(d), 1/sqrt(d)) for W (d, k) and b (k,)."""
    bound = 1.0 / math.sqrt(dim)
    w = (torch.rand(dim, n_classes, generator=generator) * 2 - 1) * bound
    b = (torch.rand(n_classes, generator=generator) * 2 - 1) * bound
    return w.to(device=device, dtype=dtype), b.to(device=device, dtype=dtype)


class UnrolledGD(InnerSolver):
    """Full-batch gradient descent on soft-target cross-entropy, unrolled (the paper's solver).

    Args:
        steps: number of gradient steps (``inner_steps``).
        lr: step size (``inner_lr``).
        fixed_init: reuse one random initialisation for every split (``fixed_inner_init``)
            instead of drawing a new one per split.
    """

    name = "unrolled"
    batches_splits = True

    def __init__(self, steps: int, lr: float, fixed_init: bool = False):
        self.steps = steps
        self.lr = lr
        self.fixed_init = fixed_init
        self._init: tuple[Tensor, Tensor] | None = None
        self._shape: tuple[int, int] | None = None

    def reset(self, dim: int, n_classes: int, generator: torch.Generator) -> None:
        self._shape = (dim, n_classes)
        self._init = None
        if self.fixed_init:
            self._init = linear_init(dim, n_classes, generator, torch.device("cpu"), torch.float32)

    def draw_init(self, dim: int, k: int, generator: torch.Generator,
                  dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
        """The initial (W (d, k), b (k,)) of one split on the CPU: the fixed one, or a fresh draw
        from ``generator`` (the same draw :meth:`fit_predict` makes)."""
        if self._init is not None:
            w, b = self._init
            return w.to(dtype=dtype), b.to(dtype=dtype)
        return linear_init(dim, k, generator, torch.device("cpu"), dtype)

    def fit_predict_union(self, x: Tensor, train_mask: Tensor, y: Tensor,
                          inits: list[tuple[Tensor, Tensor]]) -> Tensor:
        """Fit S splits at once on the rows x (u, d) of their union: split s trains on the rows
        where ``train_mask[:, s]`` (u, S) is True, with the soft labels y (u, k) of those rows,
        from ``inits[s]``. Returns the logits (u, S, k) of every row under every split's fitted
        classifier; the caller picks each split's test rows. Differentiable in y."""
        u, k = y.shape
        s = train_mask.shape[1]
        mask = train_mask.to(x.dtype)
        w0 = torch.cat([w.T for w, _ in inits]).to(x.device, x.dtype)  # (S*k, d)
        b0 = torch.cat([b for _, b in inits]).to(x.device, x.dtype)  # (S*k,)
        step = (self.lr / mask.sum(0)).repeat_interleave(k)  # lr / m_s for each split
        out = _UnrolledSteps.apply(y, x, mask, w0, b0, step, self.steps)
        return out.view(u, s, k)

    def fit_predict(
        self,
        phi2: Tensor,
        train_idx: Tensor,
        test_idx: Tensor,
        y_tr: Tensor,
        generator: torch.Generator,
        split_id: int | None = None,
    ) -> Tensor:
        m, k = y_tr.shape
        x = gather_rows(phi2, torch.cat([train_idx, test_idx]))
        init = self.draw_init(x.shape[1], k, generator, x.dtype)
        mask = torch.zeros(x.shape[0], 1, dtype=torch.bool, device=x.device)
        mask[:m] = True
        y = torch.cat([y_tr, y_tr.new_zeros(x.shape[0] - m, k)])
        return self.fit_predict_union(x, mask, y, [init])[m:, 0]


class _UnrolledSteps(torch.autograd.Function):
    """``steps`` full-batch GD steps for S stacked linear classifiers, and their adjoint.

    Forward, with Z_t = X W_t^T + b_t (u, S*k), P_t its softmax per split, R_t = mask * (P_t - Y):
        W_{t+1} = W_t - c * R_t^T X,   b_{t+1} = b_t - c * sum_rows R_t   (c = lr / m_s)
    and returns X W_T^T + b_T. Only the iterates W_t, b_t are kept (S*k*d per step); the
    backward pass recomputes Z_t in the same product that carries the adjoint back to R_t, so
    each step costs two products with X forward and two backward.
    """

    @staticmethod
    def forward(ctx, y, x, mask, w0, b0, step, steps):  # type: ignore[override]
        u, k = y.shape
        s = mask.shape[1]
        mask3 = mask[:, :, None]
        y_masked = (y[:, None, :] * mask3).reshape(u, s * k)
        weights = x.new_empty(steps, s * k, x.shape[1])
        biases = x.new_empty(steps, s * k)
        w, b = w0, b0
        for t in range(steps):
            weights[t], biases[t] = w, b
            p = torch.softmax(torch.addmm(b, x, w.T).view(u, s, k), dim=2)
            r = (p * mask3).view(u, s * k) - y_masked
            w = w - step[:, None] * (r.T @ x)
            b = b - step * r.sum(0)
        ctx.save_for_backward(x, mask, weights, biases, step)
        ctx.shape = (u, s, k)
        return torch.addmm(b, x, w.T)

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        x, mask, weights, biases, step = ctx.saved_tensors
        u, s, k = ctx.shape
        sk = s * k
        mask3 = mask[:, :, None]
        adj_w = grad_out.T @ x  # (S*k, d): adjoint of W_t, from the output at t = T
        adj_b = grad_out.sum(0)
        grad_y = torch.zeros(u, s, k, dtype=x.dtype, device=x.device)
        for t in range(weights.shape[0] - 1, -1, -1):
            # One product with X gives Z_t and X (c adj_w)^T: the adjoint of R_t is its negative.
            both = torch.addmm(torch.cat([biases[t], step * adj_b]), x,
                               torch.cat([weights[t], step[:, None] * adj_w]).T)
            p = torch.softmax(both[:, :sk].reshape(u, s, k), dim=2)
            adj_r = both[:, sk:].reshape(u, s, k).mul_(mask3).neg_()
            grad_y -= adj_r
            adj_z = (p * (adj_r - (p * adj_r).sum(2, keepdim=True))).view(u, sk)
            adj_w = torch.addmm(adj_w, adj_z.T, x)
            adj_b = adj_b + adj_z.sum(0)
        return grad_y.sum(1) if ctx.needs_input_grad[0] else None, *([None] * 6)


#: How many times fewer multiplications M's factors must cost than M before the ridge
#: solver caches them instead (:meth:`Ridge.factored`); at 1, wherever they cost fewer (and
#: then they also take less memory). Measured per outer step, forward and backward, 32
#: splits of 4,500 / 500 rows, k = 20, one thread (benchmarks/ridge_factors.py): the factors
#: run 8.5x / 3.5x / 1.7x / 1.2x / 1.0x faster at d = 40 / 100 / 200 / 300 / 384 on one
#: CPU of this project's kind, and on a slower one a whole fit with the 300-d TF-IDF view
#: factored took 22% less time (docs/method.md, "The TF-IDF view factored too"). The two
#: forms sum in another order: results equal to float rounding, not bit for bit.
FACTOR_GAIN = 1


class Ridge(InnerSolver):
    """Ridge regression with bias on soft labels, in closed form (the fast solver).

    With Xc = X_tr - mu (mu: mean of X_tr) and lambda = ``alpha * m`` (alpha is relative to the
    per-sample covariance, whose mean eigenvalue is 1 after the estimator's phi2 scaling), the
    outputs on the test rows are linear in the labels:

        outputs = M (Y - mean(Y)) + mean(Y),   M = (X_te - mu) (Xc^T Xc + lambda I)^-1 Xc^T
                                                 = (X_te - mu) Xc^T (Xc Xc^T + lambda I)^-1

    (primal form when m >= d, dual form otherwise; both are the same M). Only Y carries
    gradients, so the hypergradient is exact. For a pooled split (``split_id`` given) M
    (m' x m) is computed once in float64 and cached, while the cache stays under
    ``cache_bytes``; an outer step then costs one product with M per split, independent of n
    and d. Where d is small against the split (:data:`FACTOR_GAIN`), M's two factors
    A = (X_te - mu) (Xc^T Xc + lambda I)^-1 (m' x d) and Xc (m x d) are cached instead:
    ``A (Xc^T (Y - mean(Y)))`` costs d (m + m') k multiplications against m' m k (phi1's
    40-d graph view on splits of 4,500 / 500 rows: 11x fewer, measured 8.5x faster).
    Past the budget the solver caches only mu and the d x d inverse and gathers rows.
    """

    name = "ridge"
    light_graph = True

    def __init__(self, alpha: float, cache_bytes: int = 1 << 30):
        self.alpha = alpha
        self.cache_bytes = cache_bytes
        self._operators: dict[int, Tensor | tuple[Tensor, Tensor]] = {}
        self._inverses: dict[int, tuple[Tensor, Tensor]] = {}
        self._cached_bytes = 0

    def reset(self, dim: int, n_classes: int, generator: torch.Generator) -> None:
        self._operators, self._inverses, self._cached_bytes = {}, {}, 0

    @staticmethod
    def factored(m: int, m_test: int, d: int) -> bool:
        """Whether a split of m training and m_test test rows in d dimensions caches M's
        factors rather than M (:data:`FACTOR_GAIN`)."""
        return FACTOR_GAIN * d * (m + m_test) <= m * m_test

    def _factors(self, x_tr: Tensor, x_te: Tensor) -> tuple[Tensor, Tensor]:
        """M's factors (A (m' x d), Xc (m x d)), M = A Xc^T, in x_tr's dtype (primal form)."""
        mu = x_tr.mean(dim=0)
        xc = x_tr - mu
        a = ((x_te - mu).to(torch.float64) @ self._inverse(xc)).to(x_tr.dtype)
        return a, xc

    def _inverse(self, xc: Tensor) -> Tensor:
        """(Xc^T Xc + lambda I)^-1 (d, d) in float64 for centred Xc (m, d)."""
        gram = (xc.T @ xc).to(torch.float64)  # products in the input precision, solve in fp64
        gram.diagonal().add_(self.alpha * xc.shape[0])
        return torch.cholesky_inverse(torch.linalg.cholesky(gram))

    def _operator(self, x_tr: Tensor, x_te: Tensor) -> Tensor:
        """M (m', m) in x_tr's dtype, by the cheaper of the primal and dual forms."""
        mu = x_tr.mean(dim=0)
        xc, cross = x_tr - mu, x_te - mu
        m, d = xc.shape
        if m >= d:
            op = (cross.to(torch.float64) @ self._inverse(xc)).to(x_tr.dtype) @ xc.T
        else:
            kernel = (xc @ xc.T).to(torch.float64)
            kernel.diagonal().add_(self.alpha * m)
            rhs = (xc @ cross.T).to(torch.float64)
            op = torch.cholesky_solve(rhs, torch.linalg.cholesky(kernel)).T
        return op.to(x_tr.dtype)

    def fit_predict(
        self,
        phi2: Tensor,
        train_idx: Tensor,
        test_idx: Tensor,
        y_tr: Tensor,
        generator: torch.Generator,
        split_id: int | None = None,
    ) -> Tensor:
        y_mean = y_tr.mean(dim=0)
        op = self._operators.get(split_id) if split_id is not None else None
        if op is None and split_id is not None and split_id not in self._inverses:
            m, m_test, d = train_idx.numel(), test_idx.numel(), phi2.shape[1]
            factored = self.factored(m, m_test, d)
            size = ((m + m_test) * d if factored else m * m_test) * 4  # float32
            if self._cached_bytes + size <= self.cache_bytes:
                x_tr, x_te = gather_rows(phi2, train_idx), gather_rows(phi2, test_idx)
                op = self._factors(x_tr, x_te) if factored else self._operator(x_tr, x_te)
                self._operators[split_id] = op
                self._cached_bytes += size
        if isinstance(op, tuple):
            a, xc = op
            return a @ (xc.T @ (y_tr - y_mean)) + y_mean
        if op is not None:
            return op @ (y_tr - y_mean) + y_mean
        x_tr, x_te = gather_rows(phi2, train_idx), gather_rows(phi2, test_idx)
        if split_id is None:
            return self._operator(x_tr, x_te) @ (y_tr - y_mean) + y_mean
        if split_id not in self._inverses:
            mu = x_tr.mean(dim=0)
            self._inverses[split_id] = (mu, self._inverse(x_tr - mu).to(x_tr.dtype))
        mu, inverse = self._inverses[split_id]
        # Xc^T (Y - mean Y) = X^T Y - m mu^T mean(Y): no centred copy of X_tr is needed.
        xty = x_tr.T @ y_tr - x_tr.shape[0] * torch.outer(mu, y_mean)
        return (x_te - mu) @ (inverse @ xty) + y_mean


#: Names accepted by :func:`make_inner_solver` (and the CLI's ``--inner``).
INNER_SOLVERS: tuple[str, ...] = ("unrolled", "ridge")


def make_inner_solver(kind: str, *, inner_steps: int = 300, inner_lr: float = 0.001,
                      fixed_inner_init: bool = False, alpha: float = 1.0,
                      **_: object) -> InnerSolver:
    """Build the inner solver named ``kind`` from the (resolved) hyperparameters."""
    if kind == "unrolled":
        return UnrolledGD(inner_steps, inner_lr, fixed_inner_init)
    if kind == "ridge":
        return Ridge(alpha)
    raise ValueError(f"unknown inner solver {kind!r} (expected one of {INNER_SOLVERS})")
