"""``vl3d-focal list steps|losses|models|class-weights``: the registered components, one line each
(its name, its description and the metadata other components read), names aligned in a column.

Example:
    >>> print(listing_lines(what="class-weights")[0])
    balanced ...N / (C n_c) (scikit-learn's and VL3D's "auto").
"""

from __future__ import annotations

import argparse


def listing_lines(*, what: str) -> list[str]:
    """The lines ``vl3d-focal list WHAT`` prints: a step's ``needs``/``gives``, a loss's or a
    model's metadata in brackets; a class-weight alias names its strategy.

    Example:
        >>> listing_lines(what="class-weights")[-1].split(maxsplit=1)
        ['auto', "alias of 'balanced'"]
    """
    from vl3d_focal.registry import LOSSES, MODELS

    rows: list[tuple[str, str]] = []
    if what == "class-weights":
        from vl3d_focal.losses import CLASS_WEIGHT_STRATEGIES
        from vl3d_focal.losses.class_weights import STRATEGY_ALIASES, strategy_descriptions

        described = strategy_descriptions()
        rows = [(name, described.get(name, "")) for name in CLASS_WEIGHT_STRATEGIES]
        rows += [(alias, f"alias of {target!r}") for alias, target in STRATEGY_ALIASES.items()]
    elif what == "steps":
        from vl3d_focal.config.schemas import steps_by_kind

        for kind, entries in steps_by_kind().items():
            for entry in entries:
                facts = ", ".join(
                    f"{key}={list(entry.metadata[key])}" for key in ("needs", "gives") if entry.metadata.get(key)
                )
                rows.append(
                    (
                        kind if entry.name == kind else f"{kind}: {entry.name}",
                        entry.description + (f" [{facts}]" if facts else ""),
                    )
                )
    else:
        registry = {"losses": LOSSES, "models": MODELS}[what]
        for entry in registry.entries():
            facts = ", ".join(f"{k}={v}" for k, v in sorted(entry.metadata.items()))
            rows.append((entry.name, entry.description + (f" [{facts}]" if facts else "")))
    width = max((len(name) for name, _ in rows), default=0)
    return [f"{name:<{width}}  {text}".rstrip() for name, text in rows]


def cmd_list(args: argparse.Namespace) -> int:
    """The handler of ``vl3d-focal list``: prints :func:`listing_lines`; returns the exit status.

    Example:
        >>> cmd_list(argparse.Namespace(what="class-weights"))
        balanced ...
        0
    """
    for line in listing_lines(what=args.what):
        print(line)
    return 0
