"""Evaluation: metrics, the restorer's and the detector's evaluations, reports and model cards.
Not imported by the app."""
