"""The ``Example:`` sections of the package's docstrings, and of the tests' own tools, run and print
what they show.

They run against the names of :mod:`doctest_namespace` (a synthetic tile, its ``record``, an
untrained ``bundle``, its ``model_file``, a pipeline ``state``, a temporary folder ``out``...).
"""

import doctest
import importlib
import pkgutil
import tempfile

import pytest
from doctest_namespace import namespace

import vl3d_focal

PACKAGE_MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(vl3d_focal.__path__, "vl3d_focal.")
    if info.name != "vl3d_focal.__main__"
)  # importing it runs the command line
TEST_TOOLS = ["helpers", "doctest_namespace", "browser", "bad_inputs.make_corpus"]
MODULES = PACKAGE_MODULES + TEST_TOOLS
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def module_examples(module) -> list[doctest.Example]:
    """Every example of the module's docstrings."""
    return [example for test in doctest.DocTestFinder().find(module) for example in test.examples]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the examples' mkdtemp() folders, removed by pytest
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in doctest.DocTestFinder().find(module):
        source = "\n".join(example.source for example in test.examples)  # fresh objects for each docstring
        test.globs.update(
            {key: value for key, value in namespace(source, name=test.name).items() if key not in vars(module)}
        )
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, capsys.readouterr().out[-3000:]


def test_examples_exist_and_run():
    examples = [(name, example) for name in MODULES for example in module_examples(importlib.import_module(name))]
    skipped = [f"{name}: {example.source.strip()}" for name, example in examples if example.options.get(doctest.SKIP)]
    assert not skipped, skipped  # every example runs: make it run or delete it
    assert len(examples) >= 1150, len(examples)  # 1206 when written
