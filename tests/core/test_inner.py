import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge as SklearnRidge

from humelabel.core.inner import Ridge, UnrolledGD, make_inner_solver
from humelabel.core.objective import split_loss
from humelabel.core.sparsemax import sparsemax


def _split(n_tr: int, n_te: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.arange(n_tr), torch.arange(n_tr, n_tr + n_te)


def test_unrolled_matches_torch_optimizer_gd():
    """The hand-written steps equal nn.Linear + SGD on soft-target cross-entropy."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 5, generator=g, dtype=torch.float64)
    y = sparsemax(torch.randn(40, 3, generator=g, dtype=torch.float64))
    x_te = torch.randn(7, 5, generator=g, dtype=torch.float64)
    solver = UnrolledGD(steps=25, lr=0.3, fixed_init=True)
    solver.reset(5, 3, torch.Generator().manual_seed(1))
    got = solver.fit_predict(torch.cat([x, x_te]), *_split(40, 7), y, g)
    w0, b0 = solver._init
    lin = torch.nn.Linear(5, 3).double()
    with torch.no_grad():
        lin.weight.copy_(w0.T)
        lin.bias.copy_(b0)
    opt = torch.optim.SGD(lin.parameters(), lr=0.3)
    for _ in range(25):
        opt.zero_grad()
        loss = -(y * torch.log_softmax(lin(x), 1)).sum(1).mean()
        loss.backward()
        opt.step()
    torch.testing.assert_close(got, lin(x_te).detach())


@pytest.mark.parametrize("solver, outer_loss", [
    (UnrolledGD(steps=30, lr=0.5, fixed_init=True), "ce"),
    (Ridge(alpha=0.3), "nmse"),
    (Ridge(alpha=0.3), "ce"),
])
def test_hypergradient_matches_finite_differences(solver, outer_loss):
    """Exact hypergradient (through every inner step, or the closed form) vs central
    differences, on a tiny problem in float64."""
    g = torch.Generator().manual_seed(3)
    phi2 = torch.randn(18, 4, generator=g, dtype=torch.float64)
    tr, te = _split(12, 6)
    z = torch.randn(18, 3, generator=g, dtype=torch.float64)
    solver.reset(4, 3, torch.Generator().manual_seed(0))

    def loss_of(z_: torch.Tensor) -> torch.Tensor:
        y = sparsemax(z_ / 0.5)
        return split_loss(solver, phi2, tr, te, y[:12], y[12:], 2.0, g, outer_loss).loss

    z_var = z.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_of(z_var), z_var)
    eps = 1e-6
    fd = torch.zeros_like(z)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            e = torch.zeros_like(z)
            e[i, j] = eps
            fd[i, j] = (loss_of(z + e) - loss_of(z - e)) / (2 * eps)
    assert grad.abs().max() > 1e-3  # the check is not vacuous
    torch.testing.assert_close(grad, fd, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("n_tr, dim", [(50, 8), (6, 20)])  # primal and dual forms
def test_ridge_matches_scikit_learn(n_tr, dim):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_tr + 9, dim))
    y = rng.dirichlet(np.ones(3), size=n_tr)
    tr, te = _split(n_tr, 9)
    solver = Ridge(alpha=0.7)
    got = solver.fit_predict(torch.from_numpy(x), tr, te, torch.from_numpy(y),
                             torch.Generator())
    reference = SklearnRidge(alpha=0.7 * n_tr).fit(x[:n_tr], y).predict(x[n_tr:])
    np.testing.assert_allclose(got.numpy(), reference, atol=1e-9)


@pytest.mark.parametrize("dim, factored", [(10, True), (80, False)])
def test_ridge_cached_operator_and_gather_paths_agree(dim, factored):
    # 200 training and 100 test rows: M's factors cost 300 d multiplications per class
    # against M's 20,000, so d = 10 caches the factors and d = 80 caches M (FACTOR_GAIN 1:
    # the factors up to d = 66).
    g = torch.Generator().manual_seed(0)
    phi2 = torch.randn(300, dim, generator=g, dtype=torch.float64)
    y = torch.softmax(torch.randn(200, 4, generator=g, dtype=torch.float64), 1)
    tr, te = _split(200, 100)
    assert Ridge.factored(200, 100, dim) is factored
    weights = torch.randn(100, 4, generator=g, dtype=torch.float64)

    def with_grad(solver, **kwargs):
        labels = y.clone().requires_grad_(True)
        out = solver.fit_predict(phi2, tr, te, labels, g, **kwargs)
        (out * weights).sum().backward()
        return out.detach(), labels.grad

    fresh = with_grad(Ridge(1.0))
    cached = Ridge(1.0)
    first = with_grad(cached, split_id=0)
    again = with_grad(cached, split_id=0)
    assert isinstance(cached._operators[0], tuple) is factored
    over_budget = Ridge(1.0, cache_bytes=0)
    gathered = with_grad(over_budget, split_id=0)
    assert not over_budget._operators and 0 in over_budget._inverses
    for other in (first, again, gathered):
        torch.testing.assert_close(other[0], fresh[0])
        torch.testing.assert_close(other[1], fresh[1])


def test_random_init_per_split_differs_fixed_does_not():
    x = torch.randn(20, 4)
    y = torch.full((10, 2), 0.5)
    tr, te = _split(10, 10)
    fixed = UnrolledGD(steps=1, lr=0.1, fixed_init=True)
    fixed.reset(4, 2, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    assert torch.equal(fixed.fit_predict(x, tr, te, y, g), fixed.fit_predict(x, tr, te, y, g))
    fresh = UnrolledGD(steps=1, lr=0.1)
    fresh.reset(4, 2, g)
    assert not torch.equal(fresh.fit_predict(x, tr, te, y, g), fresh.fit_predict(x, tr, te, y, g))


def test_make_inner_solver():
    solver = make_inner_solver("unrolled", inner_steps=3, inner_lr=0.1, fixed_inner_init=False)
    assert isinstance(solver, UnrolledGD) and solver.steps == 3
    assert isinstance(make_inner_solver("ridge", alpha=2.0), Ridge)
    with pytest.raises(ValueError, match="unknown inner solver"):
        make_inner_solver("magic", inner_steps=3, inner_lr=0.1, fixed_inner_init=False)
