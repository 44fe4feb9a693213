import pytest
import torch

from humelabel.inner import UnrolledGD, make_inner_solver
from humelabel.objective import split_loss
from humelabel.sparsemax import sparsemax


def test_unrolled_matches_torch_optimizer_gd():
    """The hand-written steps equal nn.Linear + SGD on soft-target cross-entropy."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 5, generator=g, dtype=torch.float64)
    y = sparsemax(torch.randn(40, 3, generator=g, dtype=torch.float64))
    x_te = torch.randn(7, 5, generator=g, dtype=torch.float64)
    solver = UnrolledGD(steps=25, lr=0.3, fixed_init=True)
    solver.reset(5, 3, torch.Generator().manual_seed(1))
    got = solver.fit_predict(x, y, x_te, g)
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


def test_hypergradient_matches_finite_differences():
    """Exact second-order hypergradient through every inner step, vs central differences."""
    g = torch.Generator().manual_seed(3)
    x_tr = torch.randn(12, 4, generator=g, dtype=torch.float64)
    x_te = torch.randn(6, 4, generator=g, dtype=torch.float64)
    z = torch.randn(18, 3, generator=g, dtype=torch.float64)
    solver = UnrolledGD(steps=30, lr=0.5, fixed_init=True)
    solver.reset(4, 3, torch.Generator().manual_seed(0))

    def loss_of(z_: torch.Tensor) -> torch.Tensor:
        y = sparsemax(z_ / 0.5)
        return split_loss(solver, x_tr, x_te, y[:12], y[12:], 2.0, g).loss

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


def test_random_init_per_split_differs_fixed_does_not():
    x = torch.randn(20, 4)
    y = torch.full((20, 2), 0.5)
    fixed = UnrolledGD(steps=1, lr=0.1, fixed_init=True)
    fixed.reset(4, 2, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    assert torch.equal(fixed.fit_predict(x, y, x, g), fixed.fit_predict(x, y, x, g))
    fresh = UnrolledGD(steps=1, lr=0.1)
    fresh.reset(4, 2, g)
    assert not torch.equal(fresh.fit_predict(x, y, x, g), fresh.fit_predict(x, y, x, g))


def test_make_inner_solver():
    solver = make_inner_solver("unrolled", inner_steps=3, inner_lr=0.1, fixed_inner_init=False)
    assert isinstance(solver, UnrolledGD) and solver.steps == 3
    with pytest.raises(ValueError, match="unknown inner solver"):
        make_inner_solver("magic", inner_steps=3, inner_lr=0.1, fixed_inner_init=False)
