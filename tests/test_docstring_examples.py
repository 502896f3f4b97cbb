"""The ``Example:`` sections of the package's docstrings run and print what they show."""

import doctest
import importlib
import pkgutil

import pytest

import vl3d_focal

MODULES = sorted(info.name for info in pkgutil.walk_packages(vl3d_focal.__path__, "vl3d_focal.")
                 if info.name != "vl3d_focal.__main__")  # importing it runs the command line


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, capsys):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=True)
    assert result.failed == 0, capsys.readouterr().out[-3000:]


def test_examples_exist_and_run():
    attempted = 0
    for name in MODULES:
        finder = doctest.DocTestFinder()
        attempted += sum(1 for test in finder.find(importlib.import_module(name)) for example in test.examples
                         if not example.options.get(doctest.SKIP))
    assert attempted >= 300, attempted  # the run examples, not the skipped ones
