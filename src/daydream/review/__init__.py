"""Human review: a local web app to read a cohort's essays and record verdicts (app.py) and what
it shows of a cohort (essays.py); the verdicts file itself is store/labels.py."""
