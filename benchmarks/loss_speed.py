"""Loss speed: forward + backward of our focal loss against Keras' and a naive VL3D-style one.

Every peer computes the loss and its gradient with respect to the logits, in eager mode, under
``tf.function`` and under ``tf.function(jit_compile=True)`` (XLA). All configurations of a
shape are timed in one process, interleaved in a shuffled order at every repetition, and the
medians are reported. Peak memory is measured per configuration in a fresh subprocess (see
:func:`memory_probe`), and the figures are set against the machine's measured memory bandwidth
and exp throughput (see :mod:`benchmarks.loss_limits`), and against the fixed cost of a step in
the same harness: the ``floor`` peer computes the mean of the squared logits (read the logits,
write a gradient), the least any loss can cost per call; Keras' time over it is the largest
speed-up any loss could reach over Keras in that mode on this machine. The ``tf-ce`` peer is
TensorFlow's own fused sparse softmax cross-entropy (no focal factor, no class weights): what
the plain loss costs, and how far below Keras' focal loss TensorFlow's fastest kernel gets.
Where JAX is installed, the same loss and Keras' own are then timed on Keras' JAX backend under
``jax.jit`` in a subprocess (:mod:`benchmarks.loss_speed_jax`; Keras' backend is fixed per
process) and reported beside.
Run ``python -m benchmarks.loss_speed --help``.

Example:
    python -m benchmarks.loss_speed --quick --out /tmp/loss_speed.json
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.loss_limits import cpu_name, limits, machine_rates, parse_shape, peak_call_memory  # noqa: E402
from benchmarks.naive_vl3d_loss import naive_vl3d_focal_loss  # noqa: E402
from vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "loss_speed.json"
GAMMA = 2.0
SHAPES: tuple[tuple[int, int, int], ...] = ((16, 4096, 8), (4, 65536, 20))
MODES: tuple[str, ...] = ("eager", "tf.function", "xla")
PEERS: tuple[str, ...] = (
    "ours/sparse",
    "ours/one-hot",
    "keras/one-hot",
    "naive/one-hot",
    "floor/sparse",
    "tf-ce/sparse",
)
Step = Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]


def class_weights(*, num_classes: int) -> list[float]:
    """Deterministic, unequal class weights (0.5 .. 4.0) shared by every peer.

    Example:
        >>> class_weights(num_classes=3)
        [0.5, 2.25, 4.0]
    """
    return [float(w) for w in np.linspace(0.5, 4.0, num_classes)]


def make_loss(*, peer: str, num_classes: int) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """The loss function ``(labels, logits) -> scalar`` of a peer (labels in the peer's format).

    Args:
        peer: one of ``PEERS``.
        num_classes: C, the size of the class axis.

    Returns:
        A callable computing the scalar loss.

    Example:
        >>> fn = make_loss(peer="naive/one-hot", num_classes=2)
        >>> value = fn(tf.constant([[1.0, 0.0]]), tf.constant([[0.5, -0.5]]))
    """
    alpha = class_weights(num_classes=num_classes)
    if peer.startswith("ours/"):
        return ClassWeightedFocalCategoricalCrossentropy(class_weight=alpha, gamma=GAMMA, from_logits=True)
    if peer == "keras/one-hot":
        return keras.losses.CategoricalFocalCrossentropy(alpha=alpha, gamma=GAMMA, from_logits=True)
    if peer == "naive/one-hot":
        return lambda y, z: naive_vl3d_focal_loss(y_true=y, logits=z, class_weight=alpha, gamma=GAMMA)
    if peer == "floor/sparse":  # the fixed cost of a step: no loss can take less
        return lambda y, z: tf.reduce_mean(tf.square(z))
    if peer == "tf-ce/sparse":  # TensorFlow's fused softmax cross-entropy: unweighted, no focal factor
        return lambda y, z: tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=z))
    raise ValueError(f"Argument `peer` must be one of {PEERS}. Received: peer={peer!r}")


def make_step(*, loss: Callable[[tf.Tensor, tf.Tensor], tf.Tensor], mode: str) -> Step:
    """``(labels, logits) -> (loss, d loss / d logits)`` compiled as ``mode`` says.

    Example:
        >>> step = make_step(loss=make_loss(peer="ours/sparse", num_classes=2), mode="eager")
        >>> value, grad = step(tf.constant([1]), tf.constant([[0.0, 1.0]]))
    """

    def step(labels: tf.Tensor, logits: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(logits)
            value = loss(labels, logits)
        return value, tape.gradient(value, logits)

    if mode == "eager":
        return step
    if mode in ("tf.function", "xla"):
        return tf.function(step, jit_compile=mode == "xla")
    raise ValueError(f"Argument `mode` must be one of {MODES}. Received: mode={mode!r}")


def make_inputs(*, shape: tuple[int, int, int], seed: int = 0) -> dict[str, tf.Tensor]:
    """Logits ``(B, N, C)`` ~ N(0, 2^2), sparse int32 labels ``(B, N)`` and their one-hot form.

    Example:
        >>> sorted(make_inputs(shape=(1, 4, 3)))
        ['logits', 'one-hot', 'sparse']
    """
    rng = np.random.default_rng(seed)
    batch, points, num_classes = shape
    labels = rng.integers(0, num_classes, size=(batch, points)).astype(np.int32)
    return {
        "logits": tf.constant(rng.normal(0.0, 2.0, size=shape).astype(np.float32)),
        "sparse": tf.constant(labels),
        "one-hot": tf.constant(np.eye(num_classes, dtype=np.float32)[labels]),
    }


def check_one_hot_inputs(*, inputs: dict[str, tf.Tensor]) -> None:
    """Raises ``ValueError`` unless the one-hot peers get float32 one-hot rows of the sparse labels.

    Example:
        >>> check_one_hot_inputs(inputs=make_inputs(shape=(1, 4, 3)))
    """
    one_hot, sparse = inputs["one-hot"], inputs["sparse"].numpy()
    expected = np.eye(one_hot.shape[-1], dtype=np.float32)[sparse]
    if one_hot.dtype != tf.float32 or not np.array_equal(one_hot.numpy(), expected):
        raise ValueError(
            f"The one-hot peers must get float32 one-hot labels of shape {expected.shape}. "
            f"Received dtype {one_hot.dtype.name}, shape {tuple(one_hot.shape)}"
        )


def time_configurations(*, shape: tuple[int, int, int], repetitions: int, seed: int = 0) -> list[dict[str, Any]]:
    """Times every (peer, mode) at ``shape``: warm-up, then interleaved shuffled repetitions.

    Returns:
        One record per configuration with the median, quartiles and minimum in milliseconds.

    Example:
        >>> rows = time_configurations(shape=(1, 64, 3), repetitions=3)
    """
    inputs = make_inputs(shape=shape, seed=seed)
    check_one_hot_inputs(inputs=inputs)
    steps: dict[tuple[str, str], Step] = {}
    for peer in PEERS:
        loss = make_loss(peer=peer, num_classes=shape[-1])
        for mode in MODES:
            steps[(peer, mode)] = make_step(loss=loss, mode=mode)
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in steps}
    labels_of = {key: inputs[key[0].split("/")[1]] for key in steps}
    for key, step in steps.items():  # warm-up: trace, compile, first allocations
        for _ in range(2):
            step(labels_of[key], inputs["logits"])
    order = list(steps)
    shuffler = random.Random(seed)
    for _ in range(repetitions):
        shuffler.shuffle(order)
        for key in order:
            start = time.perf_counter()
            value, grad = steps[key](labels_of[key], inputs["logits"])
            samples[key].append((time.perf_counter() - start) * 1e3)
            del value, grad
    rows = []
    for (peer, mode), values in samples.items():
        q1, _, q3 = statistics.quantiles(values, n=4)
        rows.append(
            {
                "shape": list(shape),
                "peer": peer,
                "mode": mode,
                "median_ms": statistics.median(values),
                "q1_ms": q1,
                "q3_ms": q3,
                "min_ms": min(values),
                "repetitions": len(values),
            }
        )
    return rows


def memory_probe(*, peer: str, mode: str, shape: tuple[int, int, int]) -> dict[str, int]:
    """Peak extra memory of one call of a configuration (see ``peak_call_memory``).

    Example:
        >>> probe = memory_probe(peer="ours/sparse", mode="tf.function", shape=(1, 4096, 8))
        >>> probe["tensor_bytes"], probe["label_bytes"]  # the logits, and one int32 label per point
        (131072, 16384)
    """
    inputs = make_inputs(shape=shape)
    step = make_step(loss=make_loss(peer=peer, num_classes=shape[-1]), mode=mode)
    return peak_call_memory(step=step, labels=inputs[peer.split("/")[1]], logits=inputs["logits"])


def run_memory_probes(
    *, shapes: tuple[tuple[int, int, int], ...], peers: tuple[str, ...], modes: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Runs :func:`memory_probe` for each configuration in its own subprocess.

    Example:
        >>> rows = run_memory_probes(shapes=((1, 4096, 8),), peers=("ours/sparse",), modes=("xla",))
        >>> len(rows), rows[0]["peak_delta_bytes"] > 0
        (1, True)
    """
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="2",
        TF_CPU_ALLOCATOR_USE_BFC="true",  # the CPU allocator that keeps statistics (peak_call_memory)
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    rows = []
    for shape in shapes:
        for peer in peers:
            for mode in modes:
                cmd = [
                    sys.executable,
                    "-m",
                    "benchmarks.loss_speed",
                    "--memory-probe",
                    peer,
                    mode,
                    ",".join(map(str, shape)),
                ]
                done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, check=True)
                probe = json.loads(done.stdout.strip().splitlines()[-1])
                rows.append(
                    {
                        "shape": list(shape),
                        "peer": peer,
                        "mode": mode,
                        **probe,
                        "peak_in_tensors": probe["peak_delta_bytes"] / probe["tensor_bytes"],
                    }
                )
    return rows


def sparse_graph_one_hot_ops(*, shape: tuple[int, int, int]) -> list[str]:
    """Names of ``OneHot`` ops in the traced (non-XLA) graph of our sparse path.

    The graph's own ops and those of every function it calls (the loss' XLA kernels) are
    searched.

    Example:
        >>> names = sparse_graph_one_hot_ops(shape=(1, 8, 3))
    """
    inputs = make_inputs(shape=shape)
    eager = make_step(loss=make_loss(peer="ours/sparse", num_classes=shape[-1]), mode="eager")
    step = tf.function(eager, jit_compile=False)  # the step of mode "tf.function"
    graph_def = step.get_concrete_function(inputs["sparse"], inputs["logits"]).graph.as_graph_def()
    found = [node.name for node in graph_def.node if node.op == "OneHot"]
    for function in graph_def.library.function:
        found += [f"{function.signature.name}/{node.name}" for node in function.node_def if node.op == "OneHot"]
    return found


def _row(rows: list[dict[str, Any]], *, shape: Any, peer: str, mode: str) -> dict[str, Any]:
    return next(r for r in rows if tuple(r["shape"]) == tuple(shape) and r["peer"] == peer and r["mode"] == mode)


def _ms(rows: list[dict[str, Any]], *, shape: Any, peer: str, mode: str) -> float:
    return _row(rows, shape=shape, peer=peer, mode=mode)["median_ms"]


def ratios(*, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Speed-ups of our loss (sparse and one-hot labels) over Keras and the naive peer.

    ``keras_ceiling``: Keras' time over the floor's, the speed-up of a loss that cost nothing
    beyond a step's fixed cost; ``vs_keras_above_floor``: both times less the floor's;
    ``tf_ce_vs_keras``: Keras' time over TensorFlow's plain fused cross-entropy's (the speed-up
    its fastest softmax kernel reaches); ``vs_tf_ce``: that cross-entropy's time over ours.

    Example:
        >>> ratios(rows=[])
        []
    """
    out = []
    for shape in sorted({tuple(r["shape"]) for r in rows}):
        for mode in MODES:
            keras_ms = _ms(rows, shape=list(shape), peer="keras/one-hot", mode=mode)
            naive = _ms(rows, shape=list(shape), peer="naive/one-hot", mode=mode)
            floor = _ms(rows, shape=list(shape), peer="floor/sparse", mode=mode)
            tf_ce = _ms(rows, shape=list(shape), peer="tf-ce/sparse", mode=mode)
            for ours in ("ours/sparse", "ours/one-hot"):
                mine = _ms(rows, shape=list(shape), peer=ours, mode=mode)
                out.append(
                    {
                        "shape": list(shape),
                        "mode": mode,
                        "ours": ours,
                        "vs_keras": keras_ms / mine,
                        "vs_naive": naive / mine,
                        "keras_ceiling": keras_ms / floor,
                        "vs_keras_above_floor": (keras_ms - floor) / max(mine - floor, 1e-9),
                        "tf_ce_vs_keras": keras_ms / tf_ce,
                        "vs_tf_ce": tf_ce / mine,
                    }
                )
    return out


def format_report(*, result: dict[str, Any]) -> str:
    """The printed tables (milliseconds, speed-ups, distance to the limit, memory).

    Example:
        >>> text = format_report(result={"timings": [], "ratios": [], "limits": [], "memory": [],
        ...                              "machine": {"bandwidth_bytes_per_s": 1e10, "exp_per_s": 1e9}})
    """
    lines = []
    rows = result["timings"]
    for shape in sorted({tuple(r["shape"]) for r in rows}):
        lines.append(f"\nshape {shape}: median ms per forward+backward (q1-q3)")
        lines.append(f"{'peer':<16}" + "".join(f"{m:>24}" for m in MODES))
        for peer in PEERS:
            cells = []
            for mode in MODES:
                r = _row(rows, shape=shape, peer=peer, mode=mode)
                cells.append(f"{r['median_ms']:8.2f} ({r['q1_ms']:.2f}-{r['q3_ms']:.2f})")
            lines.append(f"{peer:<16}" + "".join(f"{c:>24}" for c in cells))
        for r in (x for x in result["ratios"] if tuple(x["shape"]) == shape):
            lines.append(
                f"  speed-up {r['ours']:<13} {r['mode']:<12} vs keras {r['vs_keras']:5.2f}x"
                f"   vs naive {r['vs_naive']:5.2f}x   above the floor vs keras {r['vs_keras_above_floor']:5.2f}x"
                f" (ceiling {r['keras_ceiling']:4.2f}x)   tf-ce over ours {r['vs_tf_ce']:4.2f}x"
                f" (tf-ce vs keras {r['tf_ce_vs_keras']:4.2f}x)"
            )
    m = result["machine"]
    lines.append(
        f"\nmachine: {m['bandwidth_bytes_per_s'] / 1e9:.2f} GB/s (read+write), {m['exp_per_s'] / 1e9:.2f} G exp/s"
    )
    lines.append(
        f"{'shape':<16}{'peer':<14}{'mode':<12}{'MB moved':>9}{'M transc':>9}"
        f"{'mem ms':>8}{'exp ms':>8}{'ours ms':>9}{'x bound':>8}"
    )
    for r in result["limits"]:
        lines.append(
            f"{str(tuple(r['shape'])):<16}{r['peer']:<14}{r['mode']:<12}{r['bytes'] / 1e6:9.2f}"
            f"{r['transcendentals'] / 1e6:9.2f}{r['memory_bound_ms']:8.2f}{r['exp_bound_ms']:8.2f}"
            f"{r['median_ms']:9.2f}{r['times_the_bound']:8.1f}"
        )
    if result["memory"]:
        lines.append(
            "\npeak extra memory of one call (TensorFlow allocator, fresh process per row; 1 tensor = B*N*C float32)"
        )
        lines.append(f"{'shape':<16}{'peer':<16}{'mode':<12}{'peak MB':>9}{'tensors':>9}{'labels MB':>10}")
        for r in result["memory"]:
            lines.append(
                f"{str(tuple(r['shape'])):<16}{r['peer']:<16}{r['mode']:<12}"
                f"{r['peak_delta_bytes'] / 1e6:9.2f}{r['peak_in_tensors']:9.2f}{r['label_bytes'] / 1e6:10.2f}"
            )
    return "\n".join(lines)


def run_jax_peers(
    *, shapes: tuple[tuple[int, int, int], ...], repetitions: int, rates: dict[str, float]
) -> dict[str, Any] | None:
    """:mod:`benchmarks.loss_speed_jax` in a subprocess (None where JAX is not installed).

    Its distance to the bound is also computed with this run's CPU rates (``rates``, measured
    with NumPy and TensorFlow).

    Example:
        >>> result = run_jax_peers(shapes=((1, 64, 3),), repetitions=3,
        ...                        rates={"bandwidth_bytes_per_s": 1e10, "exp_per_s": 1e9})
    """
    if importlib.util.find_spec("jax") is None:
        return None
    out = REPO / "benchmarks" / "results" / "loss_speed_jax_cpu.json"
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.loss_speed_jax",
        "--repetitions",
        str(repetitions),
        "--out",
        str(out),
        "--shapes",
        *[",".join(map(str, shape)) for shape in shapes],
    ]
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, check=True)
    result = json.loads(out.read_text(encoding="utf-8"))
    result["report"] = done.stdout.split("\nwrote ")[0]
    result["limits_with_cpu_rates"] = limits(rows=result["timings"], rates=rates)
    return result


def run_benchmark(*, quick: bool, repetitions: int | None = None) -> dict[str, Any]:
    """Runs everything and returns the JSON-able result (see ``format_report``).

    Example:
        >>> result = run_benchmark(quick=True, repetitions=2)  # about 30 s: memory probes in subprocesses
        >>> sorted(result["ratios"][0])  # doctest: +NORMALIZE_WHITESPACE
        ['keras_ceiling', 'mode', 'ours', 'shape', 'tf_ce_vs_keras',
         'vs_keras', 'vs_keras_above_floor', 'vs_naive', 'vs_tf_ce']
        >>> len(result["memory"])
        2
    """
    shapes = SHAPES[:1] if quick else SHAPES
    timings = []
    for shape in shapes:
        reps = repetitions or (8 if quick else (60 if shape[1] * shape[2] < 100_000 else 20))
        timings.extend(time_configurations(shape=shape, repetitions=reps))
    rates = machine_rates(repetitions=5 if quick else 15)
    memory = run_memory_probes(
        shapes=shapes,
        peers=("ours/sparse", "ours/one-hot") if quick else PEERS,
        modes=("tf.function",) if quick else MODES,
    )
    jax_result = run_jax_peers(shapes=shapes, repetitions=8 if quick else (repetitions or 30), rates=rates)
    return {
        "meta": {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "quick": quick,
            "gamma": GAMMA,
            "command": " ".join(["python -m benchmarks.loss_speed"] + sys.argv[1:]),
        },
        "timings": timings,
        "ratios": ratios(rows=timings),
        "machine": rates,
        "limits": limits(rows=timings, rates=rates),
        "memory": memory,
        "sparse_graph_one_hot_ops": sparse_graph_one_hot_ops(shape=shapes[0]),
        "jax": jax_result,
    }


def main(*, argv: list[str] | None = None) -> int:
    """Command line entry point; prints the tables and writes the JSON file.

    Example:
        >>> main(argv=["--memory-probe", "ours/sparse", "tf.function", "1,64,3"])  # one probe, as a subprocess runs it
        {"peak_delta_bytes": ..., "label_bytes": 256, "tensor_bytes": 768}
        0
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small shape, few repetitions (~30 s)")
    parser.add_argument("--repetitions", type=int, default=None, help="timed repetitions per configuration")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="JSON output (default benchmarks/results/loss_speed.json)"
    )
    parser.add_argument("--memory-probe", nargs=3, metavar=("PEER", "MODE", "B,N,C"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    tf.get_logger().setLevel("ERROR")  # one step function per configuration: retracing warnings are noise
    if args.memory_probe:
        peer, mode, shape = args.memory_probe
        probe = memory_probe(peer=peer, mode=mode, shape=parse_shape(shape))
        print(json.dumps(probe))
        return 0
    result = run_benchmark(quick=args.quick, repetitions=args.repetitions)
    print(format_report(result=result))
    if result["jax"] is not None:
        print("\n" + result["jax"]["report"])
        for r in result["jax"]["limits_with_cpu_rates"]:
            print(
                f"  with this run's CPU rates: {str(tuple(r['shape'])):<16}{r['peer']:<14}"
                f"{r['times_the_bound']:.1f}x bound"
            )
    if result["sparse_graph_one_hot_ops"]:
        print(f"\nnote: the sparse tf.function graph holds OneHot ops: {result['sparse_graph_one_hot_ops']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
