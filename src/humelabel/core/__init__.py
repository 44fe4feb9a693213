"""The representation math: sparsemax, the task encoder, inner solvers, the objective, the
search and the published presets. Imports only :mod:`humelabel.io` below it."""
