"""``engine optimize``: trained models made faster after training (``eclm``: layer merging)."""
