"""Honest answers: calibrated confidence, declining to answer, the non-digit gate."""
