"""Reports of a run: metrics, evaluation and training reports, figures, top-down maps.

- :mod:`~vl3d_focal.reports.metrics`: confusion matrix and classification metrics;
- :mod:`~vl3d_focal.reports.files`: report file names and the CSV writer;
- :mod:`~vl3d_focal.reports.figures`: saving figures, class colours;
- :mod:`~vl3d_focal.reports.evaluation_report`: the evaluation files of one cloud;
- :mod:`~vl3d_focal.reports.history`: the training history CSV and plot;
- :mod:`~vl3d_focal.reports.topdown`: top-down maps of reference, prediction and errors;
- :mod:`~vl3d_focal.reports.vl3d_metrics`, :mod:`~vl3d_focal.reports.vl3d_evaluation`: VL3D's
  metrics by name and its evaluation reports and plots;
- :mod:`~vl3d_focal.reports.field_reports`: the class distribution among receptive fields.
"""
