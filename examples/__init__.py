"""Example pipeline specs, shipped as package data (``vl3d_focal.examples``) for ``vl3d-focal demo``."""
