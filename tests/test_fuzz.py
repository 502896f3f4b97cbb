"""Fuzzing the two parsers of untrusted input: the spec loader and the LAS/LAZ reader.

Random and mutated inputs (random bytes, random JSON/YAML documents, bit flips and
truncations of valid files) must give a clean error (``SpecError`` / ``DataError``) or a
valid result, never another exception, and never hang (hypothesis' deadline). Examples are
derandomized so every run tries the same inputs.
"""

from __future__ import annotations

import atexit
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import laspy
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vl3d_focal.config import load_spec
from vl3d_focal.errors import DataError, SpecError
from vl3d_focal.io.las import PointCloud, read_cloud

FUZZ = settings(
    max_examples=60,
    deadline=3000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
EXAMPLE_SPEC = Path(__file__).resolve().parent.parent / "examples" / "demo_pipeline.json"
WORK = Path(tempfile.mkdtemp(prefix="vl3d_fuzz_"))
atexit.register(shutil.rmtree, WORK, True)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)


def _load(data: bytes, suffix: str) -> None:
    path = WORK / f"spec{suffix}"
    path.write_bytes(data)
    try:
        load_spec(path)
    except SpecError as error:
        assert error.issues and all(issue.file == str(path) for issue in error.issues)


def _valid_spec_text() -> bytes:
    if EXAMPLE_SPEC.is_file():
        return EXAMPLE_SPEC.read_bytes()
    return json.dumps({"in_pcloud": "a.las", "out_pcloud": "out/*", "sequential_pipeline": []}).encode()


# --- the spec loader ---------------------------------------------------------------------

_load(b"{}", ".json")  # the first validation imports the registries (TensorFlow): not a hang


@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".json", ".yaml"]))
def test_spec_loader_random_bytes(data, suffix):
    _load(data, suffix)


@FUZZ
@given(doc=json_values, as_yaml=st.booleans())
def test_spec_loader_random_documents(doc, as_yaml):
    import yaml

    text = yaml.safe_dump(doc) if as_yaml else json.dumps(doc)
    _load(text.encode(), ".yaml" if as_yaml else ".json")


@FUZZ
@given(
    doc=st.fixed_dictionaries(
        {
            "in_pcloud": json_values,
            "out_pcloud": json_values,
            "sequential_pipeline": st.lists(
                st.dictionaries(
                    st.sampled_from(
                        [
                            "class_mapping",
                            "train",
                            "predict",
                            "eval",
                            "writer",
                            "model_path",
                            "classes",
                            "model_args",
                            "out_pcloud",
                        ]
                    ),
                    json_values,
                    max_size=4,
                ),
                max_size=4,
            ),
        }
    )
)
def test_spec_loader_spec_shaped_documents(doc):
    _load(json.dumps(doc).encode(), ".json")


@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=7)), max_size=6),
    cut=st.one_of(st.none(), st.integers(min_value=0)),
    suffix=st.sampled_from([".json", ".yaml"]),
)
def test_spec_loader_mutated_valid_spec(flips, cut, suffix):
    data = bytearray(_valid_spec_text())
    for position, bit in flips:
        data[position % len(data)] ^= 1 << bit
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    _load(bytes(data), suffix)


@pytest.mark.parametrize(
    "text",
    [
        "!!python/object/apply:os.system ['echo pwned']",
        "a: !!python/name:os.system\n",
        "in_pcloud: !!binary aGVsbG8=\n",
    ],
)
def test_spec_loader_refuses_python_tags(text):
    with pytest.raises(SpecError):
        load_spec(_write(text))


def _write(text: str) -> Path:
    path = WORK / "tagged.yaml"
    path.write_text(text)
    return path


def test_spec_loader_does_not_hang_on_exponential_aliases(tmp_path):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefg", "bcdefgh"):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]")
    spec = tmp_path / "laughs.yaml"
    spec.write_text("\n".join(lines) + "\n")
    code = textwrap.dedent(f"""
        from vl3d_focal.errors import SpecError
        from vl3d_focal.config import load_spec
        try:
            load_spec({str(spec)!r})
        except SpecError as exc:
            assert "aliases expand to more than" in str(exc), exc
        else:
            raise SystemExit("a billion-laughs document was accepted")
    """)
    try:
        subprocess.run([sys.executable, "-c", code], timeout=15, check=True, capture_output=True)
    except subprocess.TimeoutExpired:
        pytest.fail("the spec loader was still busy after 15 s")


# --- the LAS/LAZ reader ------------------------------------------------------------------


def _small_cloud_bytes(suffix: str) -> bytes:
    rng = np.random.default_rng(0)
    header = laspy.LasHeader(point_format=3, version="1.2")
    header.scales = np.array([0.01, 0.01, 0.01])
    header.add_extra_dim(laspy.ExtraBytesParams(name="reflectance", type=np.float32))
    las = laspy.LasData(header)
    las.x, las.y, las.z = (rng.uniform(0, 10, 60) for _ in range(3))
    las.classification = rng.integers(0, 7, 60).astype(np.uint8)
    las.reflectance = rng.normal(size=60).astype(np.float32)
    path = WORK / f"valid{suffix}"
    las.write(str(path), do_compress=suffix == ".laz")
    return path.read_bytes()


VALID = {suffix: _small_cloud_bytes(suffix) for suffix in (".las", ".laz")}


def _read(data: bytes, suffix: str) -> None:
    path = WORK / f"fuzzed{suffix}"
    path.write_bytes(data)
    try:
        cloud = read_cloud(path)
    except DataError as error:
        assert str(path) in str(error)
        return
    assert isinstance(cloud, PointCloud) and cloud.num_points > 0
    assert cloud.xyz.shape == (cloud.num_points, 3) and np.isfinite(cloud.xyz).all()


@FUZZ
@given(data=st.binary(max_size=600), suffix=st.sampled_from([".las", ".laz"]), signed=st.booleans())
def test_las_reader_random_bytes(data, suffix, signed):
    _read((b"LASF" + data) if signed else data, suffix)


@FUZZ
@given(
    suffix=st.sampled_from([".las", ".laz"]),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=7)), min_size=1, max_size=8),
    header_only=st.booleans(),
)
def test_las_reader_bit_flips(suffix, flips, header_only):
    data = bytearray(VALID[suffix])
    span = 480 if header_only else len(data)  # the header and VLRs, or anywhere
    for position, bit in flips:
        data[position % span] ^= 1 << bit
    _read(bytes(data), suffix)


@FUZZ
@given(suffix=st.sampled_from([".las", ".laz"]), cut=st.integers(min_value=0))
def test_las_reader_truncated(suffix, cut):
    data = VALID[suffix]
    _read(data[: cut % len(data)], suffix)


def test_las_reader_reads_the_unmutated_files():
    for suffix, data in VALID.items():
        path = WORK / f"plain{suffix}"
        path.write_bytes(data)
        assert read_cloud(path).num_points == 60
