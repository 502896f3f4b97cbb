"""Loss speed on Keras' JAX backend: our focal loss against Keras' own, under ``jax.jit``.

Runs with only JAX, Keras and NumPy installed (no TensorFlow): on a CPU, and on a GPU machine.
Every peer is ``jax.jit(jax.value_and_grad(loss))`` with respect to the logits; all
configurations of a shape are warmed up (compilation), then timed one call at a time
(``block_until_ready``) in a freshly shuffled order at every repetition, in one process; the
medians are reported. The machine's memory bandwidth (a jitted in-place ``x * c`` over
256 MiB, bytes read + written) and exp rate (a jitted ``sum(exp(x))`` over 64 Mi floats) are measured in the
same run, and each of our times is set against the bound ``max(bytes / bandwidth,
transcendentals / exp rate)`` of :func:`benchmarks.loss_limits.minimal_work`.

``python -m benchmarks.loss_speed`` (TensorFlow) runs this script in a subprocess and prints its
table beside its own. Standalone::

    KERAS_BACKEND=jax python benchmarks/loss_speed_jax.py --shapes 16,4096,8 64,65536,20 --out r.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if os.environ.setdefault("KERAS_BACKEND", "jax") != "jax":
    sys.exit(f"loss_speed_jax needs KERAS_BACKEND=jax; got {os.environ['KERAS_BACKEND']!r}")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.loss_limits import cpu_name, limits, parse_shape  # noqa: E402
from vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy  # noqa: E402

GAMMA = 2.0
PEERS: tuple[str, ...] = ("ours/sparse", "ours/one-hot", "keras/one-hot")
DEFAULT_SHAPES: tuple[tuple[int, int, int], ...] = ((16, 4096, 8), (4, 65536, 20))


def make_step(*, peer: str, num_classes: int) -> Callable[[Any, Any], tuple[Any, Any]]:
    """``jax.jit`` of ``(logits, labels) -> (loss, d loss / d logits)`` for a peer.

    Example:
        >>> step = make_step(peer="ours/sparse", num_classes=3)
        >>> value, grad = step(np.zeros((1, 2, 3), np.float32), np.array([[0, 2]]))
        >>> grad.shape, bool(value > 0)
        ((1, 2, 3), True)
    """
    alpha = [float(w) for w in np.linspace(0.5, 4.0, num_classes)]
    if peer.startswith("ours/"):
        loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=alpha, gamma=GAMMA, from_logits=True)
    elif peer == "keras/one-hot":
        loss = keras.losses.CategoricalFocalCrossentropy(alpha=alpha, gamma=GAMMA, from_logits=True)
    else:
        raise ValueError(f"Argument `peer` must be one of {PEERS}. Received: peer={peer!r}")
    return jax.jit(jax.value_and_grad(lambda logits, labels: loss(labels, logits)), donate_argnums=())


def make_inputs(*, shape: tuple[int, int, int], seed: int = 0) -> dict[str, Any]:
    """Logits ~ N(0, 2^2), int32 labels and their float32 one-hot form, on the default device.

    Example:
        >>> sorted(make_inputs(shape=(1, 4, 3)))
        ['logits', 'one-hot', 'sparse']
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, shape[-1], size=shape[:-1]).astype(np.int32)
    return {
        "logits": jax.device_put(rng.normal(0.0, 2.0, size=shape).astype(np.float32)),
        "sparse": jax.device_put(labels),
        "one-hot": jax.device_put(np.eye(shape[-1], dtype=np.float32)[labels]),
    }


def _call(step: Callable, labels: Any, logits: Any) -> float:
    start = time.perf_counter()
    jax.block_until_ready(step(logits, labels))
    return (time.perf_counter() - start) * 1e3


def time_shape(*, shape: tuple[int, int, int], repetitions: int) -> list[dict[str, Any]]:
    """Median, quartiles and minimum (ms) of every peer at ``shape``, interleaved.

    Example:
        >>> rows = time_shape(shape=(1, 64, 3), repetitions=3)
    """
    inputs = make_inputs(shape=shape)
    steps = {peer: make_step(peer=peer, num_classes=shape[-1]) for peer in PEERS}
    labels = {peer: inputs[peer.split("/")[1]] for peer in PEERS}
    for peer, step in steps.items():
        for _ in range(3):
            _call(step, labels[peer], inputs["logits"])
    samples: dict[str, list[float]] = {peer: [] for peer in PEERS}
    order, shuffler = list(PEERS), random.Random(0)
    for _ in range(repetitions):
        shuffler.shuffle(order)
        for peer in order:
            samples[peer].append(_call(steps[peer], labels[peer], inputs["logits"]))
    rows = []
    for peer, values in samples.items():
        q1, _, q3 = statistics.quantiles(values, n=4)
        rows.append(
            {
                "shape": list(shape),
                "peer": peer,
                "mode": "jax.jit",
                "median_ms": statistics.median(values),
                "q1_ms": q1,
                "q3_ms": q3,
                "min_ms": min(values),
                "repetitions": len(values),
            }
        )
    return rows


def machine_rates(*, repetitions: int) -> dict[str, float]:
    """Bandwidth (bytes/s, read + write) and exp rate (exp/s) of the default JAX device, now.

    Example:
        >>> sorted(machine_rates(repetitions=2))
        ['bandwidth_bytes_per_s', 'exp_per_s']
    """
    state = {"x": jax.device_put(np.ones(64 * 1024 * 1024, np.float32))}
    nbytes, size = state["x"].nbytes, state["x"].size
    scale = jax.jit(lambda x: x * 1.0000001, donate_argnums=0)  # in place: no allocation timed
    exps = jax.jit(lambda x: jax.numpy.sum(jax.numpy.exp(x)))

    def scaled() -> Any:
        state["x"] = scale(state["x"])
        return state["x"]

    out = {}
    for key, fn, amount in (
        ("bandwidth_bytes_per_s", scaled, 2 * nbytes),
        ("exp_per_s", lambda: exps(state["x"]), size),
    ):
        jax.block_until_ready(fn())
        seconds = []
        for _ in range(repetitions):
            start = time.perf_counter()
            jax.block_until_ready(fn())
            seconds.append(time.perf_counter() - start)
        out[key] = amount / statistics.median(seconds)
    return out


def run(*, shapes: list[tuple[int, int, int]], repetitions: int) -> dict[str, Any]:
    """Everything, as a JSON-able dict.

    Example:
        >>> result = run(shapes=[(1, 64, 3)], repetitions=3)
    """
    rows = [row for shape in shapes for row in time_shape(shape=shape, repetitions=repetitions)]
    rates = machine_rates(repetitions=10)
    ratios = []
    for shape in shapes:
        keras_ms = next(r["median_ms"] for r in rows if tuple(r["shape"]) == shape and r["peer"] == "keras/one-hot")
        for r in rows:
            if tuple(r["shape"]) == shape and r["peer"].startswith("ours/"):
                ratios.append(
                    {"shape": list(shape), "ours": r["peer"], "mode": "jax.jit", "vs_keras": keras_ms / r["median_ms"]}
                )
    device = jax.devices()[0]
    return {
        "meta": {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "jax": jax.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "device": f"{device.platform}: {device.device_kind}",
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "gamma": GAMMA,
        },
        "timings": rows,
        "ratios": ratios,
        "machine": rates,
        "limits": limits(rows=rows, rates=rates),
    }


def format_report(result: dict[str, Any]) -> str:
    """The printed tables.

    Example:
        >>> format_report({"meta": {"device": "cpu"}, "timings": [], "ratios": [], "limits": [],
        ...                "machine": {"bandwidth_bytes_per_s": 1e10, "exp_per_s": 1e9}}).splitlines()[0]
        'JAX backend (jax.jit of value_and_grad) on cpu'
    """
    lines = [f"JAX backend (jax.jit of value_and_grad) on {result['meta']['device']}"]
    for r in result["timings"]:
        lines.append(
            f"  {str(tuple(r['shape'])):<16}{r['peer']:<15}{r['median_ms']:9.3f} ms ({r['q1_ms']:.3f}-{r['q3_ms']:.3f})"
        )
    for r in result["ratios"]:
        lines.append(f"  speed-up {str(tuple(r['shape'])):<16}{r['ours']:<14} vs keras {r['vs_keras']:5.2f}x")
    m = result["machine"]
    lines.append(
        f"  device: {m['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s (read+write), {m['exp_per_s'] / 1e9:.2f} G exp/s"
    )
    for r in result["limits"]:
        lines.append(
            f"  bound {str(tuple(r['shape'])):<16}{r['peer']:<14} memory {r['memory_bound_ms']:.3f} ms, "
            f"exp {r['exp_bound_ms']:.3f} ms; ours {r['median_ms']:.3f} ms = {r['times_the_bound']:.1f}x bound"
        )
    return "\n".join(lines)


def main(*, argv: list[str] | None = None) -> int:
    """Command line entry point: prints the tables, writes the JSON (``--out``).

    Example:
        >>> import tempfile
        >>> main(argv=["--shapes", "1,64,3", "--repetitions", "3", "--out", f"{tempfile.mkdtemp()}/jax.json"])
        JAX backend (jax.jit of value_and_grad) on cpu: ...
        0
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shapes",
        nargs="+",
        default=[",".join(map(str, s)) for s in DEFAULT_SHAPES],
        help="B,N,C shapes (default: 16,4096,8 4,65536,20)",
    )
    parser.add_argument("--repetitions", type=int, default=30)
    parser.add_argument("--out", type=Path, default=None, help="JSON output")
    args = parser.parse_args(argv)
    shapes = [parse_shape(text) for text in args.shapes]
    result = run(shapes=shapes, repetitions=args.repetitions)
    print(format_report(result))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
