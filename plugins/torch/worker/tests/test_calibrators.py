import unittest

import numpy as np

from qrun_worker.calibrators import METHODS, amax_entropy, amax_mse, amax_percentile, compute_amax


def gaussian_hist(bins=2048, outliers=10, seed=0):
    rng = np.random.default_rng(seed)
    x = np.abs(rng.standard_normal(400_000))
    x[:outliers] *= 20
    absmax = float(x.max())
    hist, _ = np.histogram(x, bins=bins, range=(0, absmax))
    return hist.astype(np.float64), absmax


class PercentileTest(unittest.TestCase):
    def test_upper_edge_of_the_bin_that_reaches_the_percentile(self):
        hist = np.array([50, 30, 15, 4, 1], dtype=np.float64)  # absmax 10 → bins of width 2
        self.assertEqual(amax_percentile(hist, 10.0, 50), 2.0)
        self.assertEqual(amax_percentile(hist, 10.0, 80), 4.0)
        self.assertEqual(amax_percentile(hist, 10.0, 99), 8.0)
        self.assertEqual(amax_percentile(hist, 10.0, 100), 10.0)

    def test_empty_histogram_keeps_absmax(self):
        self.assertEqual(amax_percentile(np.zeros(8), 3.0, 99.9), 3.0)


class ClippingTest(unittest.TestCase):
    def test_histogram_methods_clip_outliers_and_max_does_not(self):
        hist, absmax = gaussian_hist()
        self.assertEqual(compute_amax("max", None, absmax), absmax)
        for method in ("percentile", "entropy"):
            amax = compute_amax(method, hist, absmax, 99.99)
            self.assertGreater(amax, 2.0, method)  # keeps the bulk of N(0, 1)
            self.assertLess(amax, absmax / 2, method)  # drops the 20x outliers
        # MSE weighs the outliers' squared error: it clips, but less.
        self.assertTrue(compute_amax("percentile", hist, absmax, 99.99) < compute_amax("mse", hist, absmax) < absmax)

    def test_entropy_on_a_gaussian_lands_in_the_usual_range(self):
        # TensorRT's KL threshold for N(0, 1) at 8 bits is a few sigma.
        hist, absmax = gaussian_hist(outliers=0)
        self.assertTrue(2.5 < amax_entropy(hist, absmax) < 5.5)

    def test_entropy_after_relu_ignores_the_spike_of_zeros(self):
        # A ReLU output: half the values are exactly 0 (all in bin 0), the rest |N(0, 1)|. Counting
        # the spike, KL prefers the smallest threshold (the zoo CNN kept 53% agreement with FP32);
        # pytorch-quantization's calibrator sets bins[0] = bins[1] first, and so does this one.
        hist, absmax = gaussian_hist(outliers=0)
        relu = hist.copy()
        relu[0] += hist.sum()
        self.assertGreater(amax_entropy(relu, absmax), 0.6 * amax_entropy(hist, absmax))
        self.assertGreater(amax_entropy(relu, absmax), 2.5)

    def test_mse_prefers_the_full_range_for_uniform_data(self):
        hist = np.ones(1024)
        self.assertGreater(amax_mse(hist, 1.0), 0.95)

    def test_degenerate_inputs(self):
        for method in METHODS:
            self.assertEqual(compute_amax(method, np.zeros(256), 0.0), 0.0)

    def test_unknown_method(self):
        with self.assertRaisesRegex(ValueError, "unknown calibration method"):
            compute_amax("kl", np.ones(4), 1.0)
