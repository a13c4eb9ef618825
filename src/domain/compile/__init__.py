"""From a validated model to a flat plan: the compiler, the flow kinds, classes, derived
metrics and the run checks."""
