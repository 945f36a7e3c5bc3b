"""The experiment definition: its tables and texts read and validated, and its concept combos."""
