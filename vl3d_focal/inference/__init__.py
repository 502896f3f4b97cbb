"""Applying a model to clouds of any size: fields, tiles, streaming, propagation, scoring, output.

- :mod:`~vl3d_focal.inference.network`: fields through the model, a batch at a time (test-time
  rotations included);
- :mod:`~vl3d_focal.inference.prediction`: clouds in memory, in one go or in tiles;
- :mod:`~vl3d_focal.inference.streaming`: clouds bigger than memory, tile by tile from their file;
- :mod:`~vl3d_focal.inference.tile_buckets`, :mod:`~vl3d_focal.inference.tile_features`: the
  on-disk tiles of a streamed cloud and their neighbourhood features;
- :mod:`~vl3d_focal.inference.scoring`: confusion matrix and metrics of a cloud's predictions;
- :mod:`~vl3d_focal.inference.classified_output`: writing a classified cloud;
- :mod:`~vl3d_focal.inference.field_outputs`: the receptive-field reports of a prediction;
- :mod:`~vl3d_focal.inference.field_clouds`, :mod:`~vl3d_focal.inference.tile_field_clouds`: one
  cloud per prediction field, in memory and streamed.
"""
