import numpy as np

from humelabel.io.examples import DEMO_SETTINGS, digits_two_views


def test_digits_two_views_shapes_and_determinism():
    phi1, phi2, labels = digits_two_views()
    assert phi1.shape == (1797, 64) and phi2.shape == (1797, 400) and labels.shape == (1797,)
    assert phi1.dtype == np.float32 and np.isfinite(phi2).all()
    assert set(np.unique(labels)) == set(range(10))
    np.testing.assert_array_equal(phi2, digits_two_views()[1])
    assert DEMO_SETTINGS["iterations"] >= 1
