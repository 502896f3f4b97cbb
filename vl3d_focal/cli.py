"""The ``vl3d-focal`` command line; the only module that configures logging.

Commands: ``validate SPEC [SPEC ...]``, ``run SPEC [--resume] [--workers N] [--scheduler ADDRESS]``,
``demo [OUT]``, ``compare RUN_DIR [RUN_DIR ...]``, ``list steps|losses|models|class-weights``,
``schema`` (print, or ``--write FOLDER`` to regenerate the files) and ``init [PATH]``.
A user mistake (any :class:`~vl3d_focal.errors.VL3DFocalError`) prints its message on
stderr and exits with status 2, without a traceback unless ``--debug`` is given. Spec
problems are printed one per line as ``FILE: $.json.path: message``, sorted by location.
A run stopped by Ctrl-C exits with 130, by SIGTERM (a batch job's stop) with 143, as shells say.
TensorFlow's own C++ log lines (start-up notes, "failed call to cuInit" on a machine without
a GPU) are hidden unless ``--debug`` is given.

Example:
    >>> main(["validate", "--no-check-files", str(demo_spec_file)])
    /.../examples/demo_pipeline.json: valid
    0
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vl3d_focal import __version__
from vl3d_focal.cli_listing import cmd_list
from vl3d_focal.errors import SpecError, VL3DFocalError

USER_ERROR = 2
INTERRUPTED, TERMINATED = 128 + signal.SIGINT, 128 + signal.SIGTERM  # 130 (Ctrl-C), 143 (kill, scancel)
STDOUT_CLOSED = 128 + 13
"""The status of a process ended by SIGPIPE: what a shell reports for ``vl3d-focal ... | head -1``."""
_HANDLER_NAME = "vl3d-focal-cli"
logger = logging.getLogger("vl3d_focal")


def _configure_logging(*, verbose: int, debug: bool, base: int) -> None:
    level = logging.DEBUG if debug else max(logging.DEBUG, base - 10 * verbose)
    handler = logging.StreamHandler(sys.stderr)
    if sys.stderr.isatty():
        handler.setFormatter(logging.Formatter("%(levelname).1s %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)  # main() called again in the same process
    root.addHandler(handler)
    root.setLevel(level)
    if not debug:  # 3: TensorFlow's C++ logs keep only fatal errors (Python exceptions are unaffected)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        for noisy in ("tensorflow", "absl", "h5py", "matplotlib", "distributed", "dask"):
            logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _print_issues(error: SpecError) -> None:
    from vl3d_focal.config.messages import sort_issues

    for issue in sort_issues(error.issues):
        print(issue, file=sys.stderr)


def _cmd_validate(args: argparse.Namespace) -> int:
    from vl3d_focal.config import read_spec
    from vl3d_focal.config.notes import notes_summary
    from vl3d_focal.wording import noun

    status = 0
    for path in args.specs:
        try:
            notes = read_spec(path, check_files=not args.no_check_files, strict=args.strict).notes
        except SpecError as error:
            if args.debug:
                traceback.print_exc()
            _print_issues(error)
            if error.notes:  # all at once: what the spec will still be told once its errors are fixed
                summary = notes_summary([note.message for note in error.notes])
                errors = noun(len(error.issues), "error")
                print(f"{path}: besides the {errors}, noted{summary}:", file=sys.stderr)
                for note in error.notes:
                    print(note, file=sys.stderr)
            status = USER_ERROR
        else:
            print(f"{path}: valid" + notes_summary([note.message for note in notes]))
            for note in notes:
                print(note, file=sys.stderr)
    return status


def _run_spec(
    path: str | Path,
    *,
    resume: bool,
    overwrite: bool,
    debug: bool,
    workers: int | None = None,
    scheduler: str | None = None,
) -> int:
    """Validates and runs a spec file (with the executor overrides of ``run``), then says where
    its report is (also when it failed)."""
    from vl3d_focal.config.parsing import read_spec_file
    from vl3d_focal.runner.executor import ExecutorSettings, requested_settings, start_worker_server, with_overrides

    try:
        requested = requested_settings(read_spec_file(path), workers=workers, scheduler=scheduler)
    except SpecError:  # read_spec below reports it
        requested = None
    if requested is not None:  # the local workers' fork server imports TensorFlow while the spec is validated
        start_worker_server(requested, quiet=not debug)
    from vl3d_focal.config import read_spec
    from vl3d_focal.config.notes import run_note_lines

    spec, notes, origins = read_spec(path)  # a SpecError is reported by main(), before any work
    for level, line in run_note_lines(notes):
        logger.log(level, "%s", line)
    from vl3d_focal.lazy import import_keras, silence_keras_import
    from vl3d_focal.runner.cloud_phase import driver_loads_models

    spec = with_overrides(spec, workers=workers, scheduler=scheduler)
    start_worker_server(ExecutorSettings.from_spec(spec), quiet=not debug)  # its imports run beside this one's
    silence_keras_import(not debug)
    if driver_loads_models(spec):  # else only Dask workers load models: this process never imports Keras
        import_keras()
    from vl3d_focal.runner.interruption_note import interruption_note
    from vl3d_focal.runner.outputs import spec_prefix
    from vl3d_focal.runner.pipeline import run_pipeline
    from vl3d_focal.runner.run_record import report_paths

    report = report_paths(spec_prefix(spec))["html"]
    earlier_page = report.stat().st_mtime_ns if report.is_file() else None
    logger.info("running %s%s", path, " (resuming)" if resume else "")
    terminated: list[int] = []

    def on_sigterm(signum: int, frame: Any) -> None:  # the run records it as interrupted, as Ctrl-C
        terminated.append(signum)
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_sigterm)  # batch schedulers stop jobs with SIGTERM
    try:
        run_pipeline(spec, resume=resume, overwrite=overwrite, spec_file=str(path), step_origins=origins)
    except KeyboardInterrupt:
        print(f"vl3d-focal: interrupted; {interruption_note(spec, spec_file=str(path))}", file=sys.stderr)
        return TERMINATED if terminated else INTERRUPTED
    except BaseException:
        if report.is_file() and report.stat().st_mtime_ns != earlier_page:  # else the page is an earlier run's
            print(f"vl3d-focal: what ran, and the error: {report}", file=sys.stderr)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f"report: {report} (open it in a web browser)")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    return _run_spec(
        args.spec,
        resume=args.resume,
        overwrite=args.overwrite,
        debug=args.debug,
        workers=args.workers,
        scheduler=args.scheduler,
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    from vl3d_focal.runner.demo import write_demo

    spec = write_demo(args.out, overwrite=args.overwrite)
    logger.info("demo spec: %s", spec)
    return _run_spec(spec, resume=False, overwrite=args.overwrite, debug=args.debug)


def _cmd_compare(args: argparse.Namespace) -> int:
    from vl3d_focal.reports.compare import compare_runs
    from vl3d_focal.reports.compare_page import write_comparison
    from vl3d_focal.reports.compare_text import format_comparison

    if args.output is not None and args.output.is_dir():
        raise VL3DFocalError(f"{args.output}: is a folder; give -o a page to write, e.g. {args.output}/compare.html")
    comparison = compare_runs(args.runs)
    if args.output is not None:  # before the tables: an error prints alone
        print(f"wrote {write_comparison(comparison, path=args.output)}", file=sys.stderr)
    sys.stdout.write(format_comparison(comparison, style=args.format))
    for note in comparison["notes"] if args.format != "md" else []:  # the Markdown tables end with the notes
        print(f"vl3d-focal: note: {note}", file=sys.stderr)
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from vl3d_focal.config import schema_files, schemas

    if args.write is not None:  # a str: Path("") would be the current folder
        for path in schema_files.write_schemas(folder=args.write):
            print(path)
        return 0
    print(json.dumps(schemas.active_schemas()[args.name], indent=2, ensure_ascii=False))
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    from vl3d_focal.config.starter import starter_spec
    from vl3d_focal.io.atomic import write_text

    as_json = args.format == "json" or (
        args.format is None and args.path is not None and args.path.suffix.lower() == ".json"
    )
    text = starter_spec(as_json=as_json)
    if args.path is None:
        sys.stdout.write(text)
        return 0
    if args.path.exists() and not args.force:
        raise VL3DFocalError(f"{args.path} already exists; pass --force to overwrite it")
    write_text(args.path, text)  # atomic; a folder or an unwritable path: one line (DataError)
    print(f"wrote {args.path}; set in_pcloud to your LAS/LAZ files, then: vl3d-focal validate {args.path}")
    return 0


class _Parser(argparse.ArgumentParser):
    """An argument parser whose "unrecognized arguments" error suggests the closest option of the command."""

    subcommands: dict[str, argparse.ArgumentParser]
    """The parsers of the subcommands by name (set by :func:`build_parser`)."""

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = self.subcommands.get(getattr(parsed, "command", None) or "", self)
            command.error("unrecognized arguments: " + " ".join(_with_suggestion(command, token) for token in extras))
        return parsed


def _with_suggestion(parser: argparse.ArgumentParser, token: str) -> str:
    """``token``, followed by the closest option of ``parser`` when it is a mistyped option."""
    if not token.startswith("-"):
        return token
    options = [option for option in parser._option_string_actions if option.startswith("--")]
    close = difflib.get_close_matches(token.split("=", 1)[0], options, n=1, cutoff=0.6)
    return f"{token} (did you mean {close[0]}?)" if close else token


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``vl3d-focal``.

    Example:
        >>> build_parser().parse_args(["list", "losses"]).what
        'losses'
    """
    parser = _Parser(
        prog="vl3d-focal",
        description="Class-weighted focal loss pipelines for point-wise LiDAR classification (VL3D-style specs).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log lines (repeatable)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="check specs; exit 2 when any is invalid")
    validate.add_argument("specs", nargs="+", metavar="SPEC", help="JSON or YAML pipeline spec")
    validate.add_argument("--no-check-files", action="store_true", help="read no input file nor input folder")
    validate.add_argument(
        "--strict", action="store_true", help="keys accepted for VL3D compatibility without effect here are errors"
    )
    validate.set_defaults(handler=_cmd_validate)

    run = commands.add_parser("run", help="validate a spec, then run its pipeline")
    run.add_argument("spec", metavar="SPEC", help="JSON or YAML pipeline spec")
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted training from its last checkpoint (training/resume/; the k-th train "
        "step's: training_<k>/resume/) and, "
        "for several clouds, process only the tiles survey.json does not record as complete",
    )
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the outputs of another run in the output prefix (its run.json lists them)",
    )
    run.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="run the per-cloud steps on a local Dask cluster of N worker processes "
        "(overrides executor.workers; selects the dask engine)",
    )
    run.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the per-cloud steps on the Dask cluster at ADDRESS, e.g. tcp://host:8786 "
        "(overrides executor.scheduler; selects the dask engine)",
    )
    run.set_defaults(handler=_cmd_run, log_base=logging.INFO)

    demo = commands.add_parser(
        "demo", help="write two synthetic tiles and run the demo pipeline on them (a few minutes)"
    )
    demo.add_argument(
        "out",
        nargs="?",
        type=Path,
        default=Path("out/demo"),
        metavar="OUT",
        help="folder of the tiles, the spec and every output (default: %(default)s)",
    )
    demo.add_argument(
        "--overwrite", action="store_true", help="replace the outputs of another run in OUT (its run.json lists them)"
    )
    demo.set_defaults(handler=_cmd_demo, log_base=logging.INFO)

    compare = commands.add_parser(
        "compare",
        help="runs side by side (from their report.json): set-up, scores, per-class IoU, recall, F1, precision",
    )
    compare.add_argument(
        "runs",
        nargs="+",
        metavar="RUN_DIR",
        help="a run's folder (its first output prefix, where report.html is) or its report.json",
    )
    compare.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="HTML",
        help="also write the comparison page there (missing folders are made)",
    )
    compare.add_argument(
        "--format", choices=["md", "csv", "json"], default="md", help="what is printed on stdout (default: %(default)s)"
    )
    compare.set_defaults(handler=_cmd_compare)

    listing = commands.add_parser("list", help="registered components with a one-line description")
    listing.add_argument("what", choices=["steps", "losses", "models", "class-weights"])
    listing.set_defaults(handler=cmd_list)

    schema = commands.add_parser("schema", help="print the pipeline spec's JSON Schema")
    schema.add_argument("--name", default="pipeline.schema.json", help="schema file to print (default: %(default)s)")
    schema.add_argument("--write", metavar="FOLDER", help="write every schema file into FOLDER instead")
    schema.set_defaults(handler=_cmd_schema)

    init = commands.add_parser("init", help="write a commented starter spec (stdout without PATH)")
    init.add_argument("path", nargs="?", type=Path, metavar="PATH", help="file to write (.yaml/.yml or .json)")
    init.add_argument("--format", choices=["yaml", "json"], help="default: from PATH's suffix, else yaml")
    init.add_argument("--force", action="store_true", help="overwrite PATH")
    init.set_defaults(handler=_cmd_init)
    parser.subcommands = dict(commands.choices)
    return parser


def _stdout_closed() -> bool:
    """Whether stdout's reader went away (``vl3d-focal ... | head -1``): then there is nothing more to say."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
    except (AttributeError, OSError, ValueError):  # no poll (Windows) or stdout is no file
        return False
    return any(events & select.POLLERR for _, events in poller.poll(0))  # a pipe without reader


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``vl3d-focal`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    Example:
        >>> main(["list", "models"])
        ConvolutionalAutoencoderPwiseClassifier ... PointNetPwiseClassifier ... RandomForestClassifier ...
        0
        >>> main(["run", str(spec_file)])  # ModelLoader, then ClassificationEvaluator
        report: /.../run/report.html (open it in a web browser)
        0
    """
    args = build_parser().parse_args(argv)
    _configure_logging(verbose=args.verbose, debug=args.debug, base=getattr(args, "log_base", logging.WARNING))
    try:
        return args.handler(args)
    except VL3DFocalError as error:
        if args.debug:
            traceback.print_exc()
        if isinstance(error, SpecError):
            _print_issues(error)
        else:
            print(f"vl3d-focal: error: {error}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print("vl3d-focal: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        if not _stdout_closed():
            raise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return STDOUT_CLOSED
