"""What the loss benchmark's times are set against: the machine's rates and a call's peak memory.

:func:`machine_rates` measures memory bandwidth and exp throughput, :func:`minimal_work` counts
the least bytes and transcendentals a forward + backward call must handle, :func:`limits` puts
the two together into the distance of a measured time to its bound,
:func:`peak_call_memory` measures the peak working memory of one call, and :func:`parse_shape`
reads a ``B,N,C`` shape of the command lines. TensorFlow is imported
only by the functions that measure with it (``benchmarks/loss_speed_jax.py`` runs without it).

Example:
    >>> rates = machine_rates(repetitions=3)
    >>> rows = limits(rows=[], rates=rates)
"""

from __future__ import annotations

import functools
import gc
import platform
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.timing import median_seconds


def machine_rates(*, repetitions: int = 15) -> dict[str, float]:
    """Measured memory bandwidth (bytes/s) and exp throughput (exp/s) of this machine, now.

    Bandwidth: the best of NumPy's ``copyto`` of 128 MiB into a preallocated array (one core)
    and a TF ``x * c`` over 128 MiB (all cores), counting bytes read + written. Exp: the best
    of NumPy's float32 ``exp`` on a cache-resident 64 Ki array (one core) and ``tf.exp`` on
    1 Mi floats under XLA (all cores). Medians of ``repetitions`` runs.

    Example:
        >>> rates = machine_rates(repetitions=3)
        >>> sorted(rates)[:2]
        ['bandwidth_bytes_per_s', 'bandwidth_numpy_copy']
    """
    import tensorflow as tf

    big = np.ones(32 * 1024 * 1024, np.float32)
    out = np.empty_like(big)
    numpy_copy = 2 * big.nbytes / median_seconds(functools.partial(np.copyto, out, big), repetitions=repetitions)
    tf_big = tf.constant(big)
    scale = tf.function(lambda x: x * 1.0001)
    tf_scale = 2 * big.nbytes / median_seconds(functools.partial(scale, tf_big), repetitions=repetitions)
    small = np.linspace(-5.0, 5.0, 64 * 1024, dtype=np.float32)
    small_out = np.empty_like(small)
    inner = 50

    def numpy_exp_loop() -> None:
        for _ in range(inner):
            np.exp(small, out=small_out)

    numpy_exp = inner * small.size / median_seconds(numpy_exp_loop, repetitions=repetitions)
    tf_mid = tf.constant(np.linspace(-5.0, 5.0, 1024 * 1024, dtype=np.float32))
    tf_exp_fn = tf.function(lambda x: tf.reduce_sum(tf.exp(x)), jit_compile=True)
    tf_exp = tf_mid.shape[0] / median_seconds(lambda: tf_exp_fn(tf_mid), repetitions=repetitions)
    del big, out, tf_big
    gc.collect()
    return {
        "bandwidth_bytes_per_s": max(numpy_copy, tf_scale),
        "bandwidth_numpy_copy": numpy_copy,
        "bandwidth_tf_scale": tf_scale,
        "exp_per_s": max(numpy_exp, tf_exp),
        "exp_numpy_1core": numpy_exp,
        "exp_tf_xla": tf_exp,
    }


def minimal_work(*, shape: tuple[int, int, int], sparse: bool) -> dict[str, int]:
    """The least work one forward + backward call must do, whatever the implementation.

    Bytes: read the float32 logits and the labels (int32 per point, or float32 one-hot), write
    the float32 gradient. Transcendentals: one exp per logit (softmax) and one log per point
    (log-sum-exp); the focal factor and its slope need no more (``1 - p`` and ``p`` come from
    the exps already taken).

    Example:
        >>> minimal_work(shape=(2, 3, 4), sparse=True)
        {'bytes': 216, 'transcendentals': 30}
    """
    batch, points, num_classes = shape
    m = batch * points
    label_bytes = 4 * m if sparse else 4 * m * num_classes
    return {"bytes": 4 * m * num_classes + label_bytes + 4 * m * num_classes, "transcendentals": m * num_classes + m}


def peak_call_memory(*, step: Callable[[Any, Any], Any], labels: Any, logits: Any) -> dict[str, int]:
    """Peak extra memory of one ``step(labels, logits)`` call, from TensorFlow's CPU allocator.

    TensorFlow's CPU tensors (XLA's buffers included) come from its allocator, whose statistics
    ``tf.config.experimental.get_memory_info("CPU:0")`` reports when the process starts with
    ``TF_CPU_ALLOCATOR_USE_BFC=true`` (TensorFlow's default CPU allocator keeps none and the call
    raises ``ValueError``): bytes in use, and the peak since
    ``reset_memory_stats``. After two warm-up calls (tracing, XLA compilation), one call is made
    while holding its outputs; ``peak - in use before`` is the call's peak working memory
    (intermediates, saved activations, the gradient; median of 3 calls). Labels and logits exist
    before, so they are not in the delta; their sizes are reported separately. Allocations of
    128 KiB or less do not reach those statistics (TensorFlow 2.21): the probe sees tensors, not
    per-row scalars of small batches.

    Example:
        >>> import tensorflow as tf
        >>> logits = tf.zeros((4, 65536))
        >>> probe = peak_call_memory(step=lambda y, z: tf.nn.softmax(z) * 2.0, labels=tf.constant([1]), logits=logits)
        >>> probe["peak_delta_bytes"] >= probe["tensor_bytes"]  # at least the output
        True
    """
    import tensorflow as tf

    for _ in range(2):
        step(labels, logits)
    deltas = []
    for _ in range(3):
        before = tf.config.experimental.get_memory_info("CPU:0")["current"]
        tf.config.experimental.reset_memory_stats("CPU:0")
        outputs = step(labels, logits)
        deltas.append(tf.config.experimental.get_memory_info("CPU:0")["peak"] - before)
        del outputs
    return {
        "peak_delta_bytes": int(statistics.median(deltas)),
        "label_bytes": int(labels.numpy().nbytes),
        "tensor_bytes": 4 * int(np.prod(logits.shape)),
    }


def limits(*, rows: list[dict[str, Any]], rates: dict[str, float]) -> list[dict[str, Any]]:
    """Distance of our fastest measured time to the bound ``max(bytes / BW, exps / exp rate)``.

    Example:
        >>> limits(rows=[], rates={"bandwidth_bytes_per_s": 1e10, "exp_per_s": 1e9})
        []
    """
    out = []
    for row in rows:
        if not row["peer"].startswith("ours/"):
            continue
        shape = tuple(row["shape"])
        work = minimal_work(shape=shape, sparse=row["peer"] == "ours/sparse")
        memory_ms = work["bytes"] / rates["bandwidth_bytes_per_s"] * 1e3
        exp_ms = work["transcendentals"] / rates["exp_per_s"] * 1e3
        bound = max(memory_ms, exp_ms)
        out.append(
            {
                **{k: row[k] for k in ("shape", "peer", "mode", "median_ms")},
                **work,
                "memory_bound_ms": memory_ms,
                "exp_bound_ms": exp_ms,
                "times_the_bound": row["median_ms"] / bound,
            }
        )
    return out


def parse_shape(text: str) -> tuple[int, int, int]:
    """The ``(B, N, C)`` shape a command line writes ``B,N,C`` (batch, points, classes).

    Example:
        >>> parse_shape("16,4096,8")
        (16, 4096, 8)
    """
    batch, points, classes = (int(v) for v in text.split(","))
    return batch, points, classes


def cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere).

    Example:
        >>> isinstance(cpu_name(), str)
        True
    """
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text(encoding="utf-8").splitlines() if cpuinfo.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or "unknown"
