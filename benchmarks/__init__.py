"""Benchmarks of vl3d_focal (run each as ``python -m benchmarks.<name>``; they measure, never assert).

Example:
    python -m benchmarks.loss_speed --quick
"""
