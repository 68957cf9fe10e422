"""Hyper-parameter tuning with Optuna: storage, objective, workers and tuned parameter files."""
