"""Observed data in (MODELING §8): raw samples resampled onto a model's grid, profiles and
PMFs fitted from per-bin values, and knobs calibrated so model series match observed ones.

Pure: the samples arrive through the `MetricSource` port (adapters/metrics)."""
