"""``HUME``: the scikit-learn-style estimator over the search.

Hyperparameters live in ``__init__`` (``None`` means "take the preset's value"), ``fit``
returns self, learned state sits in trailing-underscore attributes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_is_fitted

from ..core.device import resolve_device
from ..core.inner import make_inner_solver
from ..core.objective import labelings_objective
from ..core.presets import HYPERPARAMETERS, resolve
from ..core.search import SearchConfig, run_search
from ..core.seeds import seed_from_random_state
from ..core.sparsemax import sparsemax
from ..io import l2_normalize
from ._data import (
    DTYPES,
    PHI2_SCALINGS,
    Spaces,
    check_eval_pair,
    check_labelings,
    check_matrix,
    check_spaces,
    chunks,
    graph_space,
    kmeans_init,
    labels_init,
    phi2_scaling_of,
    scaled,
    storage_dtype,
    to_tensor,
)
from ._params import check_init_labels, check_params, check_prior, describe_init
from ._persist import load_estimator, model_bytes


class HUME(ClusterMixin, BaseEstimator):
    """Find the human labeling of unlabeled data with HUME (Gadetsky & Brbic, NeurIPS 2023).

    Args:
        n_classes: number of classes k to find.
        preset: ``"fast"`` (default: the closed-form ridge inner solver, about 450x faster
            per outer step, at least as accurate as the unrolled solver on the shared text
            benchmarks), ``"paper"`` (the published CIFAR/STL defaults, unrolled inner
            gradient descent) or ``"imagenet"``.
        tau, entropy_weight, outer_lr, inner_lr, inner_steps, iterations, num_subsets,
        subset_size, train_fraction, anneal, fixed_inner_init, inner: override the preset
            (``None`` keeps the preset's value). Names follow the paper's code.
        tau_end: lower tau geometrically from ``tau`` (first outer step) to ``tau_end`` (last
            step); ``None`` (every preset) keeps tau constant. Not combinable with ``anneal``.
            Opt-in: measured on the shared text data in docs/method.md.
        prior: the class-proportion term of the objective: ``"uniform"`` (Eq. 7, all presets:
            ``- entropy_weight * H(mean soft label)``), ``"ratio"`` (generalization loss
            divided by that entropy; allows imbalanced classes), or known class proportions
            q (``n_classes`` positive numbers, rescaled to sum 1: ``+ entropy_weight *
            KL(mean soft label || q)``); see :func:`humelabel.core.objective.combine_terms`.
        size_floor: ``0`` (every preset) or f in (0, 1): add a floor on cluster size to the
            objective, ``sum_c relu(f / k - share_c) / (f / k)``, with no pull to uniform
            sizes (:func:`humelabel.core.objective.size_floor_penalty`); meant with
            ``prior="ratio"``, which otherwise lets a cluster empty.
        init: ``"random"`` (every preset), ``"kmeans"`` (k-means centroids of phi1) or a
            labeling (n,) of phi1's rows whose class means start the task encoder (the search
            continues from it; ``params_`` records ``"labels sha256:..."``).
        graph_neighbors: ``None`` (every preset) or N: add phi1's N-nearest-neighbour graph
            as one more phi2 space (its spectral embedding, :mod:`humelabel.core.graph`, of
            2 k dimensions within 20..200), so the labeling must also generalize along phi1's
            own neighbourhoods. Costs an exact N-NN search over the rows (O(n^2 d1)) and a
            second inner problem per split. ``humelabel run`` fits it as a candidate (N = 30).
        normalize: L2-normalise the rows of phi1 (fit and predict).
        phi2_scaling: ``"global"`` centres phi2 and rescales it by one number so that the
            mean squared row norm equals its dimension d2 (average feature variance 1). This
            makes ``inner_lr`` mean the same for any feature scale: one inner gradient step
            moves the classifier by about ``inner_lr * ||x||^2 = inner_lr * d2``, as with the
            large-norm raw features the published 0.001 was tuned for. Geometry is unchanged
            (one scalar for all features). ``"none"`` uses phi2 as given.
        dtype: storage precision of the representations in memory: ``"auto"`` keeps float16
            inputs (e.g. a memory-mapped .npy) in float16 and stores everything else in
            float32; ``"float16"`` halves memory for large n. Arithmetic is float32 always.
        random_state: None, an int seed in 0..2**32-1, a ``numpy.random.RandomState`` or a
            ``numpy.random.Generator`` (one seed is drawn from it; ``None`` draws from numpy's
            global RandomState); the same seed and device give the same result.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        verbose: show a progress bar with ETA on stderr.

    Attributes:
        labels_: (n_eval,) int64 hard labels of the evaluation data (phi1_eval when given,
            else the fitted data: transductive).
        coef_: (k, d1) float32 orthonormal task-encoder weight; labels are argmax coef_ @ phi1.
        history_: list of per-step dicts (loss, generalization, entropy, grad_norm, tau,
            outer_lr, time_s).
        params_: the resolved hyperparameters the search ran with.
        phi2_center_, phi2_scale_: the phi2 scaling (centre (d2,), scalar factor); lists of
            them, one per space, when phi2 was given as :class:`Spaces`.
        tau_: the tau of the last search step (the temperature of :meth:`predict_proba`).
        seed_: the int seed the search ran with (from ``random_state``).
        device_: the torch device used.
    """

    def __init__(
        self,
        n_classes: int = 2,
        *,
        preset: str = "fast",
        tau: float | None = None,
        tau_end: float | None = None,
        entropy_weight: float | None = None,
        outer_lr: float | None = None,
        inner_lr: float | None = None,
        inner_steps: int | None = None,
        iterations: int | None = None,
        num_subsets: int | None = None,
        subset_size: int | None = None,
        train_fraction: float | None = None,
        anneal: bool | None = None,
        fixed_inner_init: bool | None = None,
        inner: str | None = None,
        alpha: float | None = None,
        outer_loss: str | None = None,
        logit_scale: float | None = None,
        split_pool: int | None = None,
        init: str | np.ndarray | None = None,
        prior: str | None = None,
        size_floor: float | None = None,
        graph_neighbors: int | None = None,
        normalize: bool = True,
        phi2_scaling: str = "global",
        dtype: str = "auto",
        random_state: int | None = None,
        device: str = "auto",
        verbose: bool = False,
    ):
        self.n_classes = n_classes
        self.preset = preset
        self.tau = tau
        self.tau_end = tau_end
        self.entropy_weight = entropy_weight
        self.outer_lr = outer_lr
        self.inner_lr = inner_lr
        self.inner_steps = inner_steps
        self.iterations = iterations
        self.num_subsets = num_subsets
        self.subset_size = subset_size
        self.train_fraction = train_fraction
        self.anneal = anneal
        self.fixed_inner_init = fixed_inner_init
        self.inner = inner
        self.alpha = alpha
        self.outer_loss = outer_loss
        self.logit_scale = logit_scale
        self.split_pool = split_pool
        self.init = init
        self.prior = prior
        self.size_floor = size_floor
        self.graph_neighbors = graph_neighbors
        self.normalize = normalize
        self.phi2_scaling = phi2_scaling
        self.dtype = dtype
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def __sklearn_tags__(self) -> Any:
        """A clusterer with a ``transform`` (the task-encoder logits, always float32)."""
        from sklearn.utils import TransformerTags

        tags = super().__sklearn_tags__()
        tags.transformer_tags = TransformerTags(preserves_dtype=["float32"])
        return tags

    # ----------------------------------------------------------------- validation
    def resolved_params(self) -> dict[str, Any]:
        """The preset's hyperparameters with this estimator's overrides, validated."""
        params = resolve(self.preset, {name: getattr(self, name) for name in HYPERPARAMETERS})
        check_params(params)
        if self.phi2_scaling not in PHI2_SCALINGS:
            raise ValueError(
                f"phi2_scaling must be one of {PHI2_SCALINGS}, got {self.phi2_scaling!r}"
            )
        for name in ("inner_steps", "iterations", "num_subsets", "subset_size", "split_pool"):
            params[name] = int(params[name])
        return params

    # ----------------------------------------------------------------- data handling
    def _check(self, x: Any, name: str) -> np.ndarray:
        """x as a 2-D float array (no copy for float16/32/64 ndarrays and memmaps), finite."""
        return check_matrix(x, name)

    def _phi1_rows(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        return l2_normalize(x) if self.normalize else x

    def _to_tensor(self, x: np.ndarray, transform: Any) -> torch.Tensor:
        return to_tensor(x, transform, storage_dtype(self.dtype, x), self.device_)

    # ----------------------------------------------------------------- fitting
    def fit(self, phi1: Any, phi2: Any, phi1_eval: Any = None, phi2_eval: Any = None) -> HUME:
        """Search for the labeling of phi1 (n, d1) that generalizes best on phi2 (n, d2).

        phi2 may also be several spaces, ``Spaces((n, d2_1), (n, d2_2), ...)`` (an extension
        of the paper): each gets its own linear model on every split, and the generalization
        term of the objective is the mean over spaces. ``phi2_eval`` then is a ``Spaces`` of
        the same length. A plain (nested) list is one array, never several spaces.

        With ``phi1_eval`` (m, d1) and ``phi2_eval`` (m, d2) the setting is inductive and
        ``labels_`` are for the evaluation rows; otherwise transductive (labels of phi1).
        """
        if (phi1_eval is None) != (phi2_eval is None):
            raise ValueError("give both phi1_eval and phi2_eval, or neither")
        params = self.resolved_params()
        x1 = self._check(phi1, "phi1")
        x2s = check_spaces(phi2, "phi2")
        multi = isinstance(phi2, Spaces)
        for name, x2 in x2s:
            if x1.shape[0] != x2.shape[0]:
                raise ValueError(f"phi1 has {x1.shape[0]} rows but {name} has {x2.shape[0]}")
        n = x1.shape[0]
        if not 2 <= self.n_classes <= n:
            raise ValueError(f"n_classes must be between 2 and the number of rows ({n}), "
                             f"got {self.n_classes}")
        params["prior"] = check_prior(params["prior"], self.n_classes)
        init_labels = (None if isinstance(params["init"], str)
                       else check_init_labels(params["init"], n, self.n_classes))
        params["init"] = describe_init(params["init"])
        if params["graph_neighbors"] is not None and not params["graph_neighbors"] < n - 1:
            raise ValueError(f"graph_neighbors must be below n - 1 = {n - 1} (the rows), got "
                             f"{params['graph_neighbors']}")
        if params["subset_size"] > n:
            params["subset_size"] = n
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        x1_eval = check_eval_pair(phi1_eval, phi2_eval, x1, x2s, multi)

        self.device_ = resolve_device(self.device)
        self.seed_ = seed_from_random_state(self.random_state)
        generator = torch.Generator().manual_seed(self.seed_)
        solvers = [make_inner_solver(params["inner"], **params) for _ in x2s]
        config = SearchConfig(
            tau=params["tau"], entropy_weight=params["entropy_weight"],
            outer_lr=params["outer_lr"], iterations=params["iterations"],
            num_subsets=params["num_subsets"], subset_size=params["subset_size"],
            train_fraction=params["train_fraction"], anneal=params["anneal"],
            outer_loss=params["outer_loss"], split_pool=params["split_pool"],
            logit_scale=params["logit_scale"], prior=params["prior"],
            tau_end=params["tau_end"], size_floor=params["size_floor"],
        )
        scalings = [phi2_scaling_of(x2, self.phi2_scaling) for _, x2 in x2s]
        self.phi2_center_ = [c for c, _ in scalings] if multi else scalings[0][0]
        self.phi2_scale_ = [f for _, f in scalings] if multi else scalings[0][1]
        t1 = self._to_tensor(x1, self._phi1_rows)
        t2s = [self._to_tensor(x2, scaled(center, factor))
               for (_, x2), (center, factor) in zip(x2s, scalings, strict=True)]
        if params["graph_neighbors"] is not None:  # one more space, scaled like the others
            view = graph_space(x1, params["graph_neighbors"], self.n_classes)
            t2s.append(self._to_tensor(view, scaled(*phi2_scaling_of(view, self.phi2_scaling))))
            solvers.append(make_inner_solver(params["inner"], **params))
        init_weight = (  # the task encoder's start: a labeling's class means, k-means', random
            labels_init(self._phi1_rows, x1, init_labels, self.n_classes)
            if init_labels is not None else kmeans_init(self._phi1_rows, x1, self.n_classes,
                                                        self.seed_)
            if params["init"] == "kmeans" else None)
        several = len(t2s) > 1
        result = run_search(t1, t2s if several else t2s[0], self.n_classes, config,
                            solvers if several else solvers[0], generator, self.verbose,
                            init_weight)
        self.params_ = params
        self.history_ = result.history
        self.tau_ = float(result.history[-1]["tau"])
        self.coef_ = result.encoder.weight.detach().cpu().numpy().astype(np.float32)
        self.n_features_in_ = x1.shape[1]
        self.labels_ = self._assign(x1_eval if x1_eval is not None else x1)
        return self

    def _assign(self, x1: np.ndarray) -> np.ndarray:
        """argmax of the task encoder's logits, (m, d1) -> (m,); row norms don't matter."""
        out = np.empty(x1.shape[0], dtype=np.int64)
        for rows in chunks(x1.shape[0]):
            out[rows] = (np.asarray(x1[rows], dtype=np.float32) @ self.coef_.T).argmax(axis=1)
        return out

    def _check_phi1(self, phi1: Any) -> np.ndarray:
        check_is_fitted(self, "coef_")
        x1 = self._check(phi1, "phi1")
        if x1.shape[1] != self.coef_.shape[1]:
            raise ValueError(f"phi1 has {x1.shape[1]} features, the model expects "
                             f"{self.coef_.shape[1]}")
        return x1

    def predict(self, phi1: Any) -> np.ndarray:
        """Hard labels argmax coef_ @ phi1 for phi1 (m, d1) -> (m,) int64."""
        return self._assign(self._check_phi1(phi1))

    def transform(self, phi1: Any) -> np.ndarray:
        """Task-encoder logits ``coef_ @ phi1`` (rows L2-normalised first when ``normalize``):
        phi1 (m, d1) -> (m, k) float32."""
        x1 = self._check_phi1(phi1)
        out = np.empty((x1.shape[0], self.coef_.shape[0]), dtype=np.float32)
        for rows in chunks(x1.shape[0]):
            out[rows] = self._phi1_rows(x1[rows]) @ self.coef_.T
        return out

    def predict_proba(self, phi1: Any) -> np.ndarray:
        """Soft labels ``sparsemax(coef_ @ phi1 / tau_)`` with the search's final tau (the
        labeling the search optimised): phi1 (m, d1) -> (m, k) float32, rows sum to 1."""
        logits = torch.from_numpy(self.transform(phi1))
        return sparsemax(logits / float(self.tau_)).numpy()

    def fit_predict(  # type: ignore[override]
        self, phi1: Any, phi2: Any = None, phi1_eval: Any = None, phi2_eval: Any = None
    ) -> np.ndarray:
        """Fit (transductive, or inductive with the evaluation pair) and return ``labels_``:
        (n,) for phi1, or (m,) for phi1_eval when the evaluation pair is given."""
        if phi2 is None:
            raise ValueError("HUME needs two representations: fit_predict(phi1, phi2)")
        return self.fit(phi1, phi2, phi1_eval, phi2_eval).labels_

    # ----------------------------------------------------------------- persistence
    def model_bytes(self) -> bytes:
        """The fitted model as safetensors bytes (byte-identical for identical fits).

        Holds ``coef`` (k, d1), the phi2 scaling of each space (``phi2_center_<i>`` (d2_i,),
        ``phi2_scale`` (n_spaces,)) and, as metadata, every constructor parameter, the
        resolved hyperparameters, the seed and the final tau, so :meth:`load` rebuilds an
        equivalent estimator.
        """
        return model_bytes(self)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted model to ``path`` (a ``.safetensors`` file), atomically."""
        from ..io import write_bytes_atomic

        write_bytes_atomic(path, self.model_bytes())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> HUME:
        """A fitted estimator from a file written by :meth:`save` (or a run's
        ``model.safetensors``); ``predict``, ``predict_proba`` and ``transform`` work on it.

        Raises:
            humelabel.io.InputError: the file is missing or is not a humelabel model.
        """
        return load_estimator(cls, path)

    # ----------------------------------------------------------------- diagnostics
    def score_labeling(
        self, phi2: Any, labels: Any, *, num_splits: int = 20, seed: int = 0,
        phi1: Any = None,
    ) -> dict[str, float]:
        """The objective (Eq. 7, lower is better) of one hard labeling (n,) on phi2 (n, d2).

        Call it on the found and on the true labeling to tell an optimisation failure
        (found > truth) from an objective failure. See :meth:`score_labelings`.
        """
        return self.score_labelings(phi2, [labels], num_splits=num_splits, seed=seed,
                                    phi1=phi1)[0]

    def score_labelings(
        self, phi2: Any, labelings: Sequence[Any], *, num_splits: int = 20, seed: int = 0,
        phi1: Any = None,
    ) -> list[dict[str, float]]:
        """The objective (Eq. 7, lower is better) of each hard labeling (n,) on phi2 (n, d2).

        Returns one ``{"loss", "generalization", "entropy"}`` per labeling, each averaged over
        ``num_splits`` splits fixed by ``seed`` (the same splits and inner initialisations for
        every labeling). A fitted model uses its own phi2 scaling and hyperparameters; an
        unfitted one uses its resolved hyperparameters and scales phi2 by phi2's statistics,
        so the objective of labelings can be studied without a search (the correlation
        analysis). Labelings may use more than ``n_classes`` classes. With
        ``graph_neighbors`` set, the objective includes phi1's graph view, so ``phi1`` (n, d1)
        of the same rows is required.
        """
        fitted = hasattr(self, "coef_")
        params = self.params_ if fitted else self.resolved_params()
        x2s = check_spaces(phi2, "phi2")
        if fitted:
            centers, factors = self.phi2_center_, self.phi2_scale_
            if not isinstance(centers, list):  # fitted on one space
                centers, factors = [centers], [factors]
            if len(centers) != len(x2s):
                raise ValueError(f"the model was fitted on {len(centers)} phi2 spaces, got "
                                 f"{len(x2s)}")
            scalings = list(zip(centers, factors, strict=True))
        else:
            scalings = [phi2_scaling_of(x2, self.phi2_scaling) for _, x2 in x2s]
        x2 = x2s[0][1]
        checked = check_labelings(labelings, x2.shape[0])
        if not checked:
            return []
        n_classes = max(self.n_classes, max(int(labels.max()) + 1 for labels in checked))
        device = self.device_ if fitted else resolve_device(self.device)
        if params["graph_neighbors"] is not None:
            if phi1 is None:
                raise ValueError("this objective includes phi1's graph view "
                                 "(graph_neighbors): pass phi1=")
            x1 = self._check(phi1, "phi1")
            if x1.shape[0] != x2.shape[0]:
                raise ValueError(f"phi1 has {x1.shape[0]} rows but phi2 has {x2.shape[0]}")
            view = graph_space(x1, params["graph_neighbors"], self.n_classes)
            x2s = [*x2s, ("graph view", view)]
            scalings = [*scalings, phi2_scaling_of(view, self.phi2_scaling)]
        tensors = [torch.from_numpy(scaled(center, factor)(space)).to(device)
                   for (_, space), (center, factor) in zip(x2s, scalings, strict=True)]
        return labelings_objective(
            checked, tensors, n_classes,
            [make_inner_solver(params["inner"], **params) for _ in tensors],
            entropy_weight=params["entropy_weight"],
            subset_size=min(params["subset_size"], x2.shape[0]),
            train_fraction=params["train_fraction"], outer_loss=params["outer_loss"],
            logit_scale=params["logit_scale"], num_splits=num_splits, seed=seed,
            prior=params["prior"], size_floor=params.get("size_floor", 0.0),
        )
