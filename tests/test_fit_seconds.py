"""A training's ``fit_seconds`` end where Keras ends the training, not after it releases its data
iterators (an idle wait of seconds, up to tens of seconds, seen after the last epoch's line)."""

from __future__ import annotations

import time
from types import SimpleNamespace

from vl3d_focal.training.callbacks import HistoryWriter, NonFiniteGuard
from vl3d_focal.training.checkpoints import ResumeCheckpoint
from vl3d_focal.training.engine import Trainer


def test_fit_seconds_leave_out_what_keras_does_after_the_end_of_training(monkeypatch, tmp_path):
    now = [100.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])  # a clock the fake fit moves

    class Fit:  # fits 5 s, ends the training, then spends 30 s releasing its iterators
        def fit(self, *args, callbacks, **kwargs):
            now[0] += 5.0
            for callback in callbacks:
                callback.on_train_end()
            now[0] += 30.0

    resumer = ResumeCheckpoint(
        tmp_path / "c.npz",
        fingerprint="f",
        data_seed=1,
        guard=NonFiniteGuard(),
        history=HistoryWriter(tmp_path / "h.csv"),
        stateful=[],
        restore=None,
    )
    trainer = object.__new__(Trainer)  # only what fit() reads
    trainer.__dict__.update(
        resumer=resumer,
        restore=None,
        epochs=2,
        first_epoch=0,
        steps_per_epoch=None,
        trainer=Fit(),
        train_ds=None,
        val_ds=None,
        callbacks=[resumer],
        guard=resumer.guard,
        handling={"fit_verbose": 0},
        job=SimpleNamespace(files=SimpleNamespace(resume_checkpoint=tmp_path / "c.npz")),
    )
    trainer.fit()
    assert trainer.fit_seconds == 5.0 and not trainer.resumed_finished
