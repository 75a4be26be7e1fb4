"""Plotly figure factories: they take results, never touch the warehouse."""
