"""Forecast and risk (MODELING §9): demand projected from history, knob priors, and the
samples of a model under both turned into quantiles, SLA breach probabilities and overflow
probabilities."""
