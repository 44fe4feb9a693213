import numpy as np
import pytest
import torch

from humelabel.core.sparsemax import sparsemax, sparsemax_jacobian


def simplex_projection(z: np.ndarray) -> np.ndarray:
    """Reference: Euclidean projection onto the simplex (Held et al. / Duchi et al. 2008)."""
    u = np.sort(z)[::-1]
    css = np.cumsum(u)
    rho = np.nonzero(u * np.arange(1, len(z) + 1) > (css - 1))[0][-1]
    theta = (css[rho] - 1) / (rho + 1)
    return np.maximum(z - theta, 0)


def test_matches_closed_form_projection():
    rng = np.random.default_rng(0)
    z = rng.normal(scale=2.0, size=(200, 7))
    p = sparsemax(torch.from_numpy(z)).numpy()
    expected = np.stack([simplex_projection(row) for row in z])
    np.testing.assert_allclose(p, expected, atol=1e-12)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-12)
    assert (p >= 0).all() and (p == 0).any()


def test_known_values():
    p = sparsemax(torch.tensor([[1.0, 0.0, -1.0], [0.1, 0.1, 0.1], [5.0, 0.0, 0.0]]))
    expected = torch.tensor([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0]])
    torch.testing.assert_close(p, expected)
    # Two close logits share the mass: tau = (0.6 + 0.4 - 1) / 2 = 0 -> (0.6, 0.4, 0).
    torch.testing.assert_close(sparsemax(torch.tensor([0.6, 0.4, -2.0])),
                               torch.tensor([0.6, 0.4, 0.0]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_jacobian_closed_form_and_autograd(seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(6, generator=g, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(sparsemax, z)
    closed = sparsemax_jacobian(sparsemax(z))
    torch.testing.assert_close(jac, closed)
    # and against central finite differences away from kinks
    eps = 1e-6
    fd = torch.stack([(sparsemax(z + eps * e) - sparsemax(z - eps * e)) / (2 * eps)
                      for e in torch.eye(6, dtype=torch.float64)], dim=1)
    torch.testing.assert_close(fd, closed, atol=1e-6, rtol=1e-6)


def test_gradcheck_batched():
    z = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(sparsemax, (z,))


@pytest.mark.parametrize("scale", [0.001, 0.3, 30.0])  # wide, narrow and single supports
def test_top_k_path_equals_full_sort(scale, monkeypatch):
    import humelabel.core.sparsemax as module

    z = torch.randn(300, 200, generator=torch.Generator().manual_seed(0)) * scale
    fast = sparsemax(z)
    monkeypatch.setattr(module, "TOP_K", 10**9)  # always the full sort
    torch.testing.assert_close(fast, sparsemax(z), rtol=0, atol=0)
