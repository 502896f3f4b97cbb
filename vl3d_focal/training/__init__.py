"""The Keras training engine: fields, targets, optimizers, callbacks, checkpoints, distribution.

- :mod:`~vl3d_focal.training.engine`: the :class:`~vl3d_focal.training.engine.Trainer`;
- :mod:`~vl3d_focal.training.fields`: labelled receptive fields, normaliser, validation split;
- :mod:`~vl3d_focal.training.targets`: class counts, class weights, the loss, label formats;
- :mod:`~vl3d_focal.training.datasets`, :mod:`~vl3d_focal.training.augmentation`: the tf.data
  input, shuffled and augmented (VL3D's ``training_sequencer``);
- :mod:`~vl3d_focal.training.optimizers`, :mod:`~vl3d_focal.training.metrics`,
  :mod:`~vl3d_focal.training.callbacks`, :mod:`~vl3d_focal.training.checkpoints`: the fit's parts
  and its resumable state;
- :mod:`~vl3d_focal.training.model_reports`, :mod:`~vl3d_focal.training.evaluation`: VL3D's
  reports of the network and of the training (training clouds, fields, auto-validation);
- :mod:`~vl3d_focal.training.distribution` (and ``distribution_settings``): tf.distribute;
- :mod:`~vl3d_focal.training.files`: the files a training writes;
- :mod:`~vl3d_focal.training.forest` (and ``forest_validation``, ``forest_reports``): VL3D's random
  forest, its held-out validations and its reports.
"""
