import numpy as np

from humelabel.cli.common import sizes_line


def test_sizes_line_lists_every_class():
    line = sizes_line(np.array([0, 0, 1, 2, 2, 2]), 3)
    assert line == "6 rows, class sizes: 0:2, 1:1, 2:3"


def test_sizes_line_names_the_empty_classes():
    # The search can leave a class with no row (Banking77's vote of 5 runs left 1 of 77
    # empty); the user asked for k, so the summary says so.
    line = sizes_line(np.array([0, 0, 3, 3]), 5, "cluster")
    assert line.startswith("4 rows, cluster sizes: 0:2, 1:0, 2:0, 3:2, 4:0")
    assert line.endswith("(3 of 5 clusters empty: 1, 2, 4)")
    assert "classes empty: 1" in sizes_line(np.array([0, 2]), 3)
