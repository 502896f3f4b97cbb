"""Running a validated spec: the pipeline, its inputs, its outputs, and the checks made before.

- :mod:`~vl3d_focal.runner.pipeline`: runs the steps in order over one pipeline state;
- :mod:`~vl3d_focal.runner.inputs`: opens the input clouds;
- :mod:`~vl3d_focal.runner.outputs`: the files a spec writes;
- :mod:`~vl3d_focal.runner.preflight`: writable output folders, free disk.
"""
