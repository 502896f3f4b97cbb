"""Opening the input clouds of a spec (``in_pcloud``, or VL3D's ``in_pcloud_concat``) into a new
pipeline state.

Example:
    >>> read_inputs(inputs=[], prefixes=["out/"]).clouds
    []
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.config.prefixes import cloud_prefixes, model_prefix
from vl3d_focal.data.records import CloudRecord
from vl3d_focal.errors import DataError
from vl3d_focal.io.concatenation import read_concatenation
from vl3d_focal.io.footprints import Footprint, TileIndex, read_footprint
from vl3d_focal.io.las import check_file
from vl3d_focal.progress import Progress
from vl3d_focal.runner.survey_tally import EMPTY_REASON
from vl3d_focal.steps.state import PipelineState
from vl3d_focal.wording import counted

logger = logging.getLogger(__name__)


def read_concatenated_input(entries: Sequence[Mapping[str, Any]], *, prefixes: Sequence[str | Path]) -> PipelineState:
    """A new pipeline state whose one cloud is VL3D's ``in_pcloud_concat``: every listed cloud,
    filtered by its conditions, read whole into one (:func:`~vl3d_focal.io.concatenation.read_concatenation`).

    The cloud stays in memory (no step streams it from a file); clouds not all in one
    coordinate system are warned of as a survey's tiles are
    (:meth:`~vl3d_focal.io.footprints.TileIndex.crs_warnings`); its outputs go where the first
    file's would, its messages and reports name it as the cloud is named
    (:func:`~vl3d_focal.io.concatenation.concatenation_name`), and its footprint
    covers every point kept.

    Example:
        >>> state = read_concatenated_input([{"in_pcloud": tile}, {"in_pcloud": tile}], prefixes=["out/"])
        >>> [record.num_points for record in state.clouds], state.clouds[0].prefix
        ([3062], 'out/')
    """
    first = str(entries[0]["in_pcloud"])
    parts = TileIndex(footprints=tuple(read_footprint(entry["in_pcloud"]) for entry in entries))
    for message in parts.crs_warnings(
        clouds="the clouds of in_pcloud_concat", by="their concatenation (one cloud, with the first one's header)"
    ):
        logger.warning("%s", message)
    cloud = read_concatenation(entries)
    assert cloud.path is not None  # read_concatenation names it
    (lx, ly, lz), (hx, hy, hz) = cloud.xyz.min(axis=0).tolist(), cloud.xyz.max(axis=0).tolist()
    footprint = Footprint(
        path=str(cloud.path),
        low=(lx, ly, lz),
        high=(hx, hy, hz),
        points=cloud.num_points,
        crs=read_footprint(first).crs,
    )
    record = CloudRecord(path=cloud.path, cloud=cloud, prefix=cloud_prefixes(inputs=[first], prefixes=prefixes)[0])
    return PipelineState(
        clouds=[record],
        model_prefix=model_prefix(inputs=[first], prefixes=prefixes),
        tile_index=TileIndex(footprints=(footprint,)),
    )


def read_inputs(
    *,
    inputs: Sequence[str | Path],
    prefixes: Sequence[str | Path],
    failures: dict[str, str] | None = None,
    set_aside: dict[str, str] | None = None,
) -> PipelineState:
    """Opens every input cloud (one log line each) into a new pipeline state, with the tile
    index of their headers' bounds (:class:`~vl3d_focal.io.footprints.TileIndex`).

    Only the header is read and checked here (:func:`vl3d_focal.io.las.check_file`), with a
    progress bar for surveys of thousands of tiles: a cloud is read whole when a step first uses
    it (training, in-memory prediction), while prediction, evaluation and writing of a big cloud
    nobody trains on stream its file (:mod:`vl3d_focal.inference.streaming`), so that memory
    stays bounded for any cloud size.

    Args:
        inputs: ``in_pcloud`` paths (already resolved against the spec's folder).
        prefixes: ``out_pcloud`` prefixes (one, or one per input).
        failures: for a survey: receives ``{path: message}`` of the clouds whose header
            cannot be used, which are left out instead of stopping the run.
        set_aside: with ``failures``: receives ``{path: reason}`` of the clouds of no point,
            which are left out with a warning (a survey records them as skipped); without it,
            such a cloud is an error as for a single cloud.

    Returns:
        A :class:`PipelineState` holding one :class:`CloudRecord` per input.

    Example:
        >>> read_inputs(inputs=[], prefixes=["out/"]).clouds
        []
    """
    per_cloud = cloud_prefixes(inputs=inputs, prefixes=prefixes)
    records, footprints = [], []
    with Progress("reading headers", total=len(inputs), unit="clouds") as progress:
        for number, (path, prefix) in enumerate(zip(inputs, per_cloud), start=1):
            progress.update(number - 1)
            try:
                count = check_file(path, allow_empty=failures is not None and set_aside is not None)
                if count == 0 and set_aside is not None:
                    logger.warning("cloud %d/%d: %s: %s, skipped", number, len(inputs), path, EMPTY_REASON)
                    set_aside[str(path)] = EMPTY_REASON
                    continue
                footprints.append(read_footprint(path))
            except DataError as err:
                if failures is None:
                    raise
                logger.error("cloud %d/%d: %s", number, len(inputs), err)
                failures[str(path)] = str(err)
                continue
            logger.log(
                logging.INFO if len(inputs) <= 20 else logging.DEBUG,
                "cloud %d/%d: %s, %d points",
                number,
                len(inputs),
                path,
                count,
            )
            records.append(CloudRecord(path=Path(path), cloud=None, prefix=prefix, num_points=count))
    left_out = [f"{len(failures)} unreadable: failed"] if failures else []
    left_out += [f"{len(set_aside)} empty: skipped"] if set_aside else []
    logger.info(
        "%s, %d points%s",
        counted(len(inputs), "input cloud"),
        sum(r.num_points for r in records),
        f" ({'; '.join(left_out)})" if left_out else "",
    )
    index = TileIndex(footprints=tuple(footprints))
    for message in index.crs_warnings():  # also in the survey record (SurveyRecord.start)
        logger.warning("%s", message)
    return PipelineState(clouds=records, model_prefix=model_prefix(inputs=inputs, prefixes=prefixes), tile_index=index)
