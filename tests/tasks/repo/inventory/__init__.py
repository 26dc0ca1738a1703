"""A small stock-keeping library."""
