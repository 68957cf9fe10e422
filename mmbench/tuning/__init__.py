"""Hyper-parameter tuning with Optuna: one study (``tune``), every model with one budget
(``tune_all``), and their storage, objective, workers and tuned parameter files."""
