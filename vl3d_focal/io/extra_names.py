"""Feature names longer than a LAS extra dimension's name holds (32 bytes): written cut, as VL3D does.

VL3D's automatic names grow with each miner (``floor_distance_r50.0_sep0.35_mean_r1.0`` is 38
bytes). A cloud writer writes such a feature under its first 32 bytes
(``floor_distance_r50.0_sep0.35_mea``), the name a later spec reading that cloud gives in
``fnames``. Two features written under the same name, or a cut name that is already a
dimension of the cloud, are an error: each needs its own dimension.

Example:
    >>> names = ["floor_distance_r50.0_sep0.35_mean_r1.0", "floor_distance_r50.0_sep0.35_mean_r2.0"]
    >>> [cut_name(name=name) for name in names], [index for index, _ in name_clashes(names=names, existing=[])]
    (['floor_distance_r50.0_sep0.35_mea', 'floor_distance_r50.0_sep0.35_mea'], [1])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

MAX_NAME_BYTES = 32
"""The bytes of a LAS extra dimension's name."""


def cut_name(*, name: str) -> str:
    """``name`` cut to its first 32 bytes of UTF-8 (never inside a character); a shorter name as it is.

    Example:
        >>> cut_name(name="floor_distance_r50.0_sep0.35_mean_r1.0"), cut_name(name="intensity_mean_r1.0")
        ('floor_distance_r50.0_sep0.35_mea', 'intensity_mean_r1.0')
    """
    encoded = name.encode("utf-8")
    return name if len(encoded) <= MAX_NAME_BYTES else encoded[:MAX_NAME_BYTES].decode("utf-8", errors="ignore")


def cut_notice(*, name: str) -> str:
    """What a writer says of a feature whose name it cuts.

    Example:
        >>> cut_notice(name="floor_distance_r50.0_sep0.35_mean_r1.0")[:60]
        "'floor_distance_r50.0_sep0.35_mean_r1.0' is 38 bytes long an"
    """
    return (
        f"{name!r} is {len(name.encode('utf-8'))} bytes long and a LAS extra dimension's name holds at most "
        f"{MAX_NAME_BYTES}: it is written as {cut_name(name=name)!r} (as VL3D writes it; a spec reading the "
        "cloud names it so in fnames); to choose another name, give the feature one of at most "
        f"{MAX_NAME_BYTES} bytes in its miner's frenames"
    )


def name_clashes(*, names: Sequence[str], existing: Iterable[str]) -> list[tuple[int, str]]:
    """``(index in names, problem)`` for each of ``names`` written under the name an earlier one
    is written under, or cut to the name of a dimension the cloud already has (``existing``).

    A name of at most 32 bytes that is already a dimension is no clash: the writer gives that
    dimension its values.

    Example:
        >>> name_clashes(names=["a" * 33, "a" * 34, "b" * 40], existing=["b" * 32])[0][0]
        1
        >>> print(name_clashes(names=["b" * 40], existing=["b" * 32])[0][1])
        'bbb...' would be written as 'bbb...' (a LAS extra dimension's name holds at most 32 bytes), a
        dimension the cloud already has, whose values it would replace; give it another name in its miner's frenames
    """
    taken = set(existing)
    first: dict[str, str] = {}
    found = []
    for index, name in enumerate(names):
        written = cut_name(name=name)
        if written in first:
            found.append(
                (
                    index,
                    f"{name!r} and {first[written]!r} would both be written as {written!r} (a LAS extra "
                    f"dimension's name holds at most {MAX_NAME_BYTES} bytes); give one of them another name "
                    "in its miner's frenames",
                )
            )
        elif written != name and written in taken:
            found.append(
                (
                    index,
                    f"{name!r} would be written as {written!r} (a LAS extra dimension's name holds at most "
                    f"{MAX_NAME_BYTES} bytes), a dimension the cloud already has, whose values it would "
                    "replace; give it another name in its miner's frenames",
                )
            )
        first.setdefault(written, name)
    return found
