"""From stored evaluations to score tables, plots, the essays page, selection, status and spend."""
