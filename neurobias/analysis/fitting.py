"""How well a circuit fitted to recorded activity reproduces it: arrays in, numbers out.

All activity arrays are (time, trial, neuron); ``valid`` is a (time, trial) boolean array that
is False on the padding after each trial's end (None: every bin counts).

* ``per_neuron_r2``: R^2 of each neuron over the valid bins.
* ``pvar``: CURBD's fraction of variance explained by the whole matrix (Perich et al. 2020).
* ``psth`` / ``psth_r2``: trial-averaged activity per condition and its R^2 per condition.
* ``bits_per_spike``: Poisson log-likelihood gain over each neuron's mean rate, in bits per
  spike (Pei et al. 2021, Neural Latents Benchmark; co-bps when scored on held-out neurons).
* ``fit_ridge`` / ``fit_poisson_glm``: the readouts that predict held-out neurons from a
  circuit's rates (co-smoothing), with ``predict_linear`` / ``predict_poisson``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["per_neuron_r2", "pvar", "psth", "psth_r2", "bits_per_spike", "fit_ridge",
           "fit_poisson_glm", "predict_linear", "predict_poisson", "choose_alpha", "ALPHAS"]

# penalties the co-smoothing readout's cross-validation chooses from (on z-scored regressors)
ALPHAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


def _prepare(pred, data, valid):
    pred = np.asarray(pred, dtype=np.float64)
    data = np.asarray(data, dtype=np.float64)
    if pred.shape != data.shape or pred.ndim != 3:
        raise ValueError(f"predictions {pred.shape} and data {data.shape} must have the same "
                         "(time, trial, neuron) shape")
    if valid is None:
        valid = np.ones(data.shape[:2], bool)
    valid = np.asarray(valid, bool)
    if valid.shape != data.shape[:2]:
        raise ValueError(f"valid has shape {valid.shape}: expected {data.shape[:2]} "
                         "(time, trial)")
    return pred[valid], data[valid]  # (bin, neuron) each


def per_neuron_r2(pred, data, valid=None) -> np.ndarray:
    """R^2 = 1 - sum (d - m)^2 / sum (d - mean d)^2 of each neuron over the valid bins.

    Args:
        pred: (time, trial, neuron) predicted activity.
        data: (time, trial, neuron) recorded activity, same units.
        valid: (time, trial) bool, bins that count.

    Returns:
        (neuron,) float64; NaN for a neuron that is constant over the valid bins.
    """
    m, d = _prepare(pred, data, valid)
    ss_res = ((d - m) ** 2).sum(0)
    ss_tot = ((d - d.mean(0)) ** 2).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), np.nan)


def pvar(pred, data, valid=None) -> float:
    """CURBD's pVar (Perich et al. 2020): 1 - ||D - M||_F^2 / (n var(D)).

    D and M are the (neuron x bin) matrices of recorded and fitted activity over every valid
    bin, n their number of entries and var(D) the variance of all entries of D together (about
    one grand mean, population variance).

    Returns:
        float; 1 for a perfect fit, 0 for predicting the grand mean everywhere.
    """
    m, d = _prepare(pred, data, valid)
    denom = d.size * d.var()
    if denom <= 0:
        raise ValueError("data are constant: pVar is undefined")
    return float(1.0 - ((d - m) ** 2).sum() / denom)


def psth(x, condition, n_conditions: int, valid=None) -> np.ndarray:
    """Trial-averaged activity (peri-stimulus time histogram) of each condition.

    Args:
        x: (time, trial, neuron) activity.
        condition: (trial,) int condition index of each trial.
        n_conditions: number of conditions.
        valid: (time, trial) bool; each bin is averaged over the trials valid at it.

    Returns:
        (condition, time, neuron) float64; NaN where no trial of the condition is valid.
    """
    x = np.asarray(x, dtype=np.float64)
    condition = np.asarray(condition)
    valid = np.ones(x.shape[:2], bool) if valid is None else np.asarray(valid, bool)
    out = np.full((n_conditions, x.shape[0], x.shape[2]), np.nan)
    for c in range(n_conditions):
        sel = condition == c
        w = valid[:, sel].astype(np.float64)  # (time, trial)
        n = w.sum(1)
        s = np.einsum("tb,tbn->tn", w, x[:, sel])
        with np.errstate(invalid="ignore", divide="ignore"):
            out[c] = np.where(n[:, None] > 0, s / np.where(n > 0, n, 1.0)[:, None], np.nan)
    return out


def psth_r2(pred, data, condition, n_conditions: int, valid=None) -> np.ndarray:
    """R^2 of the fitted against the recorded trial average, per condition.

    For condition c with recorded PSTH P (time, neuron) and fitted PSTH Q (both averaged over
    the condition's trials, bins where no trial is valid dropped):

        R^2_c = 1 - sum_{t,n} (P - Q)^2 / sum_{t,n} (P - mean_t P)^2

    i.e. the variance of each neuron's PSTH about its own mean, pooled over neurons.

    Returns:
        (condition,) float64; NaN for a condition without trials or with flat PSTHs.
    """
    p = psth(data, condition, n_conditions, valid)
    q = psth(pred, condition, n_conditions, valid)
    out = np.full(n_conditions, np.nan)
    for c in range(n_conditions):
        keep = ~np.isnan(p[c]).any(1)
        if not keep.any():
            continue
        pc, qc = p[c][keep], q[c][keep]
        ss_tot = ((pc - pc.mean(0)) ** 2).sum()
        if ss_tot > 0:
            out[c] = 1.0 - ((pc - qc) ** 2).sum() / ss_tot
    return out


def _poisson_ll(lam, k):
    """Poisson log-likelihood sum k log lam - lam (the log k! term cancels in differences)."""
    lam = np.maximum(lam, 1e-300)
    return float((k * np.log(lam) - lam).sum())


def bits_per_spike(pred_counts, counts, valid=None) -> float:
    """Bits per spike (Pei et al. 2021, Neural Latents Benchmark).

    ``(LL(model) - LL(null)) / (n_spikes log 2)`` with Poisson log-likelihoods summed over the
    valid bins and the neurons given; the null model predicts each neuron's mean count per bin
    over those same bins. Scored on held-out neurons this is co-bps.

    Args:
        pred_counts: (time, trial, neuron) predicted expected spike counts per bin (> 0).
        counts: (time, trial, neuron) recorded spike counts per bin.
        valid: (time, trial) bool.

    Returns:
        float: 0 for the null model, positive when the model is better.
    """
    lam, k = _prepare(pred_counts, counts, valid)
    n_spikes = k.sum()
    if n_spikes <= 0:
        raise ValueError("no spikes in the scored bins: bits per spike is undefined")
    null = np.broadcast_to(k.mean(0, keepdims=True), k.shape)
    return float((_poisson_ll(lam, k) - _poisson_ll(null, k)) / (n_spikes * math.log(2)))


# ---------------------------------------------------------------------------------- readouts


def _standardize(x):
    mu = x.mean(0)
    sd = x.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    return mu, sd


def fit_ridge(x, y, alpha: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression y ~ x W + b with standardized regressors.

    Minimises ``mean_bins ||y - x W - b||^2 + alpha ||W_std||^2`` where W_std are the weights
    on the z-scored columns of x (a column that never varies gets weight 0).

    Args:
        x: (bin, regressor), e.g. a circuit's rates on training trials.
        y: (bin, target), e.g. held-out neurons' recorded rates.
        alpha: ridge penalty (>= 0).

    Returns:
        W (regressor, target) and b (target,) in the original units: predict ``x @ W + b``.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    mu, sd = _standardize(x)
    z = (x - mu) / sd
    n = len(x)
    gram = z.T @ z / n + alpha * np.eye(z.shape[1])
    w_std = np.linalg.solve(gram, z.T @ (y - y.mean(0)) / n)
    w = w_std / sd[:, None]
    return w, y.mean(0) - mu @ w


def fit_poisson_glm(x, y, alpha: float = 1e-3, max_iter: int = 200) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """Poisson GLM with log link: counts y ~ Poisson(exp(x W + b)), L2-penalised.

    Minimises ``mean_bins sum_target (exp(eta) - y eta) + alpha ||W_std||^2`` with W_std the
    weights on the z-scored regressors (L-BFGS, float64).

    Args:
        x: (bin, regressor).
        y: (bin, target) spike counts per bin.
        alpha: ridge penalty (>= 0).

    Returns:
        W (regressor, target) and b (target,): predict ``exp(x @ W + b)`` counts per bin.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    mu, sd = _standardize(x)
    z = torch.from_numpy((x - mu) / sd)
    yt = torch.from_numpy(y)
    w = torch.zeros(z.shape[1], y.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.log(yt.mean(0).clamp_min(1e-6)).clone().requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, tolerance_grad=1e-9,
                            tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        eta = (z @ w + b).clamp(max=30.0)
        loss = (torch.exp(eta) - yt * eta).sum(1).mean() + alpha * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    w_std = w.detach().numpy()
    w_orig = w_std / sd[:, None]
    return w_orig, b.detach().numpy() - mu @ w_orig


def predict_linear(x, w, b) -> np.ndarray:
    """``x @ w + b`` over the last axis of x (any leading axes)."""
    return np.asarray(x, np.float64) @ w + b


def predict_poisson(x, w, b) -> np.ndarray:
    """``exp(x @ w + b)``: expected counts per bin (any leading axes)."""
    return np.exp(np.minimum(np.asarray(x, np.float64) @ w + b, 30.0))


def choose_alpha(x, y, groups, *, poisson: bool, alphas=ALPHAS, folds: int = 3) -> float:
    """The L2 penalty of a readout (ridge, or Poisson GLM) with the best cross-validated fit.

    The bins are split into ``folds`` folds by their group (a trial's bins stay together, so a
    fold is never predicted from its own trial); each penalty is fitted on the other folds and
    scored on the left-out one by squared error (ridge) or Poisson negative log-likelihood
    (GLM), summed over folds. With many regressors and few bins a small penalty overfits: a
    co-smoothing readout fitted with it can predict held-out trials far worse than the null.

    Args:
        x: (bin, regressor).
        y: (bin, target) rates (ridge) or spike counts per bin (GLM).
        groups: (bin,) the trial of each bin.
        poisson: GLM (True) or ridge (False).
        alphas: the penalties to try.
        folds: number of folds (fewer if there are fewer groups).

    Returns:
        The best penalty; the median of ``alphas`` when there are fewer than two groups.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    trials = np.unique(groups)
    alphas = tuple(alphas)
    if len(trials) < 2:
        return float(alphas[len(alphas) // 2])
    fold_of = {t: i % min(folds, len(trials)) for i, t in enumerate(trials)}
    fold = np.array([fold_of[g] for g in np.asarray(groups)])
    scores = np.zeros(len(alphas))
    for k in np.unique(fold):
        train, test = fold != k, fold == k
        for i, alpha in enumerate(alphas):
            if poisson:
                w, b = fit_poisson_glm(x[train], y[train], alpha)
                eta = np.minimum(x[test] @ w + b, 30.0)
                scores[i] += float((np.exp(eta) - y[test] * eta).sum())
            else:
                w, b = fit_ridge(x[train], y[train], alpha)
                scores[i] += float(((x[test] @ w + b - y[test]) ** 2).sum())
    return float(alphas[int(np.argmin(scores))])
