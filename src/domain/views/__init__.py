"""Questions asked of a stored run: /state and its window, queries, compare, the graph, the
flow analysis, scenarios and their diff."""
