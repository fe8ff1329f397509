"""Selectivity clustering of units by their task-variance profiles (Yang et al. 2019, Fig. 2).

Units that vary little in every task are dropped; each kept unit's task-variance profile is
divided by its maximum, so that the profile says *which* tasks the unit serves, not how much it
varies; k-means is run for every k in a range and the k with the highest silhouette score wins.
Clusters are then numbered by the task they prefer, so that the sorted unit x task matrix reads
as a block diagonal.

Reference: Yang, Joglekar, Song, Newsome & Wang, Nat. Neurosci. 22, 297-306 (2019).
"""

from __future__ import annotations

import numpy as np

from .variance import as_array, check_finite

__all__ = ["SelectivityClustering"]


class SelectivityClustering:
    """k-means clustering of normalised task-variance profiles, k chosen by silhouette.

    Args:
        threshold: units whose summed task variance is at most this are not clustered.
        k_range: (k_min, k_max), inclusive range of cluster numbers to try; k_max is lowered to
            the number of kept units minus one.
        n_init: k-means restarts per k (the best inertia is kept).
        seed: seed of the k-means initialisations.

    Attributes (after ``fit``):
        labels_: (unit,) cluster of each unit, -1 for units below the threshold.
        n_clusters_: the chosen k.
        silhouette_: silhouette score at the chosen k.
        k_values_: the k tried; silhouette_scores_: the score at each.
        kept_: (unit,) bool, units above the threshold.
        profiles_: (unit, context) normalised task variance (rows of dropped units are 0).
        preferred_: (n_clusters_,) preferred context of each cluster.
        order_: indices of the kept units sorted by cluster, then by their preferred context.

    Examples:
        >>> clu = SelectivityClustering(seed=0).fit(tv)   # tv: (unit, context)
        >>> clu.n_clusters_, clu.silhouette_
    """

    def __init__(self, threshold: float = 1e-3, k_range: tuple[int, int] = (2, 20),
                 n_init: int = 10, seed: int = 0):
        if not threshold >= 0:
            raise ValueError(f"threshold={threshold!r} is invalid: must be >= 0")
        if len(k_range) != 2 or not 2 <= k_range[0] <= k_range[1]:
            raise ValueError(f"k_range={k_range!r} is invalid: need (k_min, k_max) with "
                             "2 <= k_min <= k_max")
        if not (isinstance(n_init, int) and n_init >= 1):
            raise ValueError(f"n_init={n_init!r} is invalid: must be an integer >= 1")
        self.threshold = threshold
        self.k_range = (int(k_range[0]), int(k_range[1]))
        self.n_init = n_init
        self.seed = seed

    def fit(self, tv_uc) -> SelectivityClustering:
        """Cluster the units of a (unit, context) task-variance matrix; returns self."""
        from sklearn.cluster import KMeans
        from sklearn.metrics import silhouette_score

        tv = as_array(tv_uc, "tv_uc", 2)
        check_finite(tv, "tv_uc")
        if (tv < 0).any():
            raise ValueError("tv_uc holds negative values: a task variance is >= 0")
        kept = tv.sum(1) > self.threshold
        n_kept = int(kept.sum())
        k_min, k_max = self.k_range[0], min(self.k_range[1], n_kept - 1)
        if k_max < k_min:
            raise ValueError(f"{n_kept} of {len(tv)} units have summed task variance above "
                             f"threshold={self.threshold}: too few units for k >= {k_min} "
                             f"(need at least {k_min + 1}); lower the threshold or k_range")
        profiles = np.zeros_like(tv)
        profiles[kept] = tv[kept] / tv[kept].max(1, keepdims=True)
        x = profiles[kept]
        scores, fits = [], []
        for k in range(k_min, k_max + 1):
            km = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.seed).fit(x)
            labels = km.labels_
            n_used = len(np.unique(labels))  # identical profiles can leave clusters empty
            ok = n_used == k and k < len(x)
            scores.append(silhouette_score(x, labels) if ok else -1.0)
            fits.append(labels)
        best = int(np.argmax(scores))
        labels = fits[best]
        k = k_min + best
        # number clusters by their preferred context (then by how strongly they prefer it)
        means = np.stack([x[labels == j].mean(0) for j in range(k)])
        pref = means.argmax(1)
        rank = np.lexsort((-means.max(1), pref))
        relabel = np.empty(k, np.int64)
        relabel[rank] = np.arange(k)
        labels = relabel[labels]
        self.labels_ = np.full(len(tv), -1, np.int64)
        self.labels_[kept] = labels
        self.n_clusters_ = k
        self.silhouette_ = float(scores[best])
        self.k_values_ = np.arange(k_min, k_max + 1)
        self.silhouette_scores_ = np.asarray(scores, float)
        self.kept_ = kept
        self.profiles_ = profiles
        self.preferred_ = pref[rank]
        idx = np.flatnonzero(kept)
        self.order_ = idx[np.lexsort((profiles[idx].argmax(1), self.labels_[idx]))]
        return self

    def fit_predict(self, tv_uc) -> np.ndarray:
        """fit, then return ``labels_``."""
        return self.fit(tv_uc).labels_
