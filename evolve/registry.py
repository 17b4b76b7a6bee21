"""Finding problem plugins: installed entry points and local plugin folders.

Installed plugins register a ``Problem`` subclass in the ``evolve.problems``
entry-point group. A plugin that is not installed is found when its folder, or
the folder above it, is a search path (the current directory by default): every
``pyproject.toml`` there that declares the same entry-point group is read, and
its folder goes on ``sys.path``. That is what lets ``evolve new-problem demo``
followed by ``evolve run demo`` work without ``pip install``.
"""

import dataclasses
import importlib
import logging
import sys
import tomllib
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from evolve.errors import UserInputError, did_you_mean
from evolve.problem import Problem

logger = logging.getLogger(__name__)

GROUP = "evolve.problems"


@dataclasses.dataclass(frozen=True)
class PluginSource:
    """Where a problem class comes from.

    Attributes:
        name: the problem name.
        target: ``module:attribute`` of the class.
        folder: the local folder to put on ``sys.path``, or None if installed.
    """

    name: str
    target: str
    folder: str | None = None


@dataclasses.dataclass(frozen=True)
class ProblemSpec:
    """All that is needed to rebuild a problem in another process."""

    name: str
    settings: Mapping[str, Any]
    search_paths: tuple[str, ...] = ()

    def create(self) -> Problem:
        return create_problem(self.name, self.settings, self.search_paths)


def discover(search_paths: Sequence[str | Path] = ()) -> dict[str, PluginSource]:
    """Return every problem plugin, local folders first so that they can shadow installed ones."""
    plugins: dict[str, PluginSource] = {}
    for entry_point in entry_points(group=GROUP):
        plugins[entry_point.name] = PluginSource(entry_point.name, entry_point.value)
    for path in search_paths:
        for source in _local_plugins(Path(path)):
            plugins[source.name] = source
    return plugins


def _local_plugins(path: Path) -> list[PluginSource]:
    if not path.is_dir():
        return []
    sources = []
    candidates = [path / "pyproject.toml", *sorted(path.glob("*/pyproject.toml"))]
    for pyproject in candidates:
        if not pyproject.is_file():
            continue
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            logger.warning("skipping %s: %s", pyproject, error)
            continue
        group = data.get("project", {}).get("entry-points", {}).get(GROUP, {})
        for name, target in group.items():
            sources.append(PluginSource(name, target, str(pyproject.parent.resolve())))
    return sources


def load_problem_class(name: str, search_paths: Sequence[str | Path] = ()) -> type[Problem]:
    """Import the class of problem ``name``.

    Raises:
        UserInputError: if no plugin has that name, or its class cannot be imported.
    """
    plugins = discover(search_paths)
    if name not in plugins:
        raise UserInputError(
            f"unknown problem {name!r}.{did_you_mean(name, plugins)} "
            f"Installed problems: {', '.join(sorted(plugins)) or 'none'}; run `evolve problems` to list them."
        )
    return _import(plugins[name])


def _import(source: PluginSource) -> type[Problem]:
    if source.folder and source.folder not in sys.path:
        sys.path.insert(0, source.folder)
    module_name, _, attribute = source.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UserInputError(
            f"cannot load problem {source.name!r} from {source.target!r}: {error}. "
            "Check the entry point in the plugin's pyproject.toml."
        ) from error
    except Exception as error:  # the plugin's own code failed while being imported
        where = f" at {error.filename}:{error.lineno}" if isinstance(error, SyntaxError) else ""
        raise UserInputError(
            f"problem {source.name!r}: importing {module_name!r} raised {type(error).__name__}{where}: {error}. "
            "Fix the plugin's code; `python -c 'import " + module_name + "'` shows the traceback."
        ) from error
    try:
        cls = getattr(module, attribute)
    except AttributeError as error:
        raise UserInputError(
            f"cannot load problem {source.name!r} from {source.target!r}: {error}. "
            "Check the entry point in the plugin's pyproject.toml."
        ) from error
    if not (isinstance(cls, type) and issubclass(cls, Problem)):
        raise UserInputError(
            f"problem {source.name!r} points to {source.target!r}, which is not a Problem subclass."
        )
    return cls


def create_problem(name: str, settings: Mapping[str, Any] | None = None, search_paths: Sequence[str | Path] = ()) -> Problem:
    """Import and instantiate problem ``name`` with its ``--set`` settings."""
    return load_problem_class(name, search_paths)(settings or {})
