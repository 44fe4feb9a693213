import torch

from humelabel.core.encoder import TaskEncoder


def test_rows_orthonormal_and_stay_so_after_a_step():
    g = torch.Generator().manual_seed(0)
    enc = TaskEncoder(12, 4, g)
    w = enc.weight
    assert w.shape == (4, 12)
    torch.testing.assert_close(w @ w.T, torch.eye(4), atol=1e-5, rtol=0)
    opt = torch.optim.Adam(enc.parameters(), lr=0.1)
    x = torch.randn(30, 12, generator=g)
    enc.soft_labels(x, 10.0)[:, 0].sum().backward()  # large tau: dense sparsemax, non-zero grad
    opt.step()
    w2 = enc.weight
    assert not torch.allclose(w, w2)
    torch.testing.assert_close(w2 @ w2.T, torch.eye(4), atol=1e-5, rtol=0)


def test_soft_and_hard_labels_agree():
    g = torch.Generator().manual_seed(1)
    enc = TaskEncoder(8, 3, g)
    x = torch.randn(50, 8, generator=g)
    soft = enc.soft_labels(x, 0.1)
    torch.testing.assert_close(soft.sum(1), torch.ones(50))
    assert torch.equal(soft.argmax(1), enc.hard_labels(x))


def test_seed_fixes_init():
    a = TaskEncoder(8, 3, torch.Generator().manual_seed(5)).weight
    b = TaskEncoder(8, 3, torch.Generator().manual_seed(5)).weight
    c = TaskEncoder(8, 3, torch.Generator().manual_seed(6)).weight
    assert torch.equal(a, b) and not torch.equal(a, c)
