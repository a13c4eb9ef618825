"""Run catalog adapters: summaries of every run in a SQL database for listing and search."""
