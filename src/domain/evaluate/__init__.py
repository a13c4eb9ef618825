"""Running a plan: the engine, Monte Carlo batches, random streams, and the model and work
budgets."""
