"""Activation range calibrators on a histogram of |x| (numpy only, so they are tested without torch).

The worker fills the histogram in two passes, as qrun's ONNX calibrate step does: pass 1 finds
absmax, pass 2 counts |x| into `bins` equal bins over [0, absmax]. Every method returns `amax`, the
clipping threshold; the quantization scale is amax / 127 (symmetric int8).

- max:        absmax itself.
- percentile: the upper edge of the bin where the cumulative count reaches p% (same rule as
              src/quant/range-collector.ts, so the torch and ONNX paths agree on the same data).
- entropy:    TensorRT's KL-divergence calibration (Szymon Migacz, "8-bit Inference with TensorRT",
              GTC 2017), with bin 0 (exact zeros, half of a ReLU output) counted like bin 1, as
              pytorch-quantization does: for each candidate threshold i, reference P = hist[:i]
              with the outliers folded into its last bin, candidate Q = hist[:i] merged into 128
              levels and expanded back over the non-empty bins; pick the i with the smallest KL(P || Q).
- mse:        the threshold whose fake-quantized bin centres have the smallest mean squared error.
"""
from __future__ import annotations

import numpy as np

INT8_LEVELS = 128  # |q| in 0..127 for symmetric int8
METHODS = ("max", "percentile", "entropy", "mse")


def amax_percentile(hist: np.ndarray, absmax: float, percentile: float) -> float:
    total = float(hist.sum())
    if total == 0 or absmax <= 0:
        return float(absmax)
    cdf = np.cumsum(hist, dtype=np.float64)
    idx = int(np.searchsorted(cdf, percentile / 100.0 * total, side="left"))
    idx = min(idx, len(hist) - 1)
    return float((idx + 1) / len(hist) * absmax)


def _candidates(nbins: int, start: int, max_candidates: int) -> np.ndarray:
    stride = max(1, (nbins - start) // max_candidates)
    out = np.arange(start, nbins + 1, stride)
    if out[-1] != nbins:
        out = np.append(out, nbins)
    return out


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    p = p / p.sum()
    q = q / q.sum()
    mask = p > 0
    if np.any(q[mask] == 0):
        return float("inf")
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def amax_entropy(hist: np.ndarray, absmax: float, max_candidates: int = 512) -> float:
    hist = np.asarray(hist, dtype=np.float64).copy()
    nbins = len(hist)
    if absmax <= 0 or hist.sum() == 0 or nbins <= INT8_LEVELS:
        return float(absmax)
    # Bin 0 holds every exact zero: after a ReLU that is half the tensor, and with it in P the KL
    # minimum is the smallest candidate (a CNN's ranges cut to a tenth). pytorch-quantization's
    # entropy calibrator does the same: bins[0] = bins[1].
    hist[0] = hist[1]
    best_i, best_kl = nbins, float("inf")
    for i in _candidates(nbins, INT8_LEVELS, max_candidates):
        i = int(i)
        p = hist[:i].copy()
        p[i - 1] += hist[i:].sum()
        if p.sum() == 0:
            continue
        # Merge the i bins into 128 levels (i >= 128, so every level has at least one bin), then
        # spread each level's count evenly over its non-empty bins.
        src = hist[:i]
        edges = np.linspace(0, i, INT8_LEVELS + 1).round().astype(np.int64)
        nonzero = src > 0
        sums = np.add.reduceat(src, edges[:-1])
        counts = np.add.reduceat(nonzero.astype(np.float64), edges[:-1])
        per_bin = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        q = np.repeat(per_bin, np.diff(edges)) * nonzero
        kl = _kl(p, q)
        if kl < best_kl:
            best_kl, best_i = kl, i
    return float(best_i / nbins * absmax)


def amax_mse(hist: np.ndarray, absmax: float, max_candidates: int = 512) -> float:
    hist = np.asarray(hist, dtype=np.float64)
    nbins = len(hist)
    if absmax <= 0 or hist.sum() == 0:
        return float(absmax)
    width = absmax / nbins
    centres = (np.arange(nbins) + 0.5) * width
    best_amax, best_err = float(absmax), float("inf")
    for i in _candidates(nbins, max(1, nbins // 64), max_candidates):
        amax = i * width
        scale = amax / 127.0
        q = np.clip(np.rint(centres / scale), -128, 127) * scale
        err = float(np.sum(hist * (centres - q) ** 2))
        if err < best_err:
            best_err, best_amax = err, float(amax)
    return best_amax


def compute_amax(method: str, hist: np.ndarray | None, absmax: float, percentile: float = 99.99) -> float:
    if method == "max":
        return float(absmax)
    if hist is None:
        raise ValueError(f"calibration method {method} needs a histogram")
    if method == "percentile":
        return amax_percentile(hist, absmax, percentile)
    if method == "entropy":
        return amax_entropy(hist, absmax)
    if method == "mse":
        return amax_mse(hist, absmax)
    raise ValueError(f"unknown calibration method {method!r}; known: {', '.join(METHODS)}")
