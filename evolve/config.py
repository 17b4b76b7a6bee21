"""Search settings, from defaults, a TOML file and command-line flags, in that order."""

import dataclasses
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evolve.errors import UserInputError, did_you_mean

MUTATORS = ("random", "llm", "mixed")


@dataclasses.dataclass
class SearchConfig:
    """How a search runs; every field can be set in the ``[search]`` table of ``--config``.

    Attributes:
        budget: candidates to propose (children, cache hits included); None for no limit.
        time_limit: wall-clock seconds before the search stops; None for no limit.
        seed: seeds every random choice, so a local run is reproducible.
        population_size: members of the regularized-evolution population.
        tournament_size: members sampled to pick each parent (within one island).
        islands: populations evolving apart; 1 is plain regularized evolution.
        migration_interval: generations between migrations of each island's best.
        batch_size: children proposed per generation and evaluated together.
        mutator: ``random`` (op or AST edits), ``llm`` or ``mixed``.
        use_cache: look up the functional equivalence cache; False for ablations.
        cache_size: records the cache keeps (least recently used are evicted).
        cache_average_first: evaluations averaged per hash, for noisy fitness.
        cache_forget_after_hits: drop a record after this many hits; None keeps it.
        mantissa_bits: significant bits kept when quantizing probe outputs.
        distinct_hash_retries: re-mutate a child up to this many times while its
            functional hash equals its parent's; 0 turns this off.
        leaderboard_size: programs kept in ``leaderboard.csv``.
        checkpoint_seconds: wall-clock seconds between checkpoints.
        num_evaluators: Ray evaluator actors.
    """

    budget: int | None = 2000
    time_limit: float | None = None
    seed: int = 0
    population_size: int = 100
    tournament_size: int = 10
    islands: int = 1
    migration_interval: int = 10
    batch_size: int = 50
    mutator: str = "random"
    use_cache: bool = True
    cache_size: int = 100_000
    cache_average_first: int = 1
    cache_forget_after_hits: int | None = None
    mantissa_bits: int = 20
    distinct_hash_retries: int = 3
    leaderboard_size: int = 50
    checkpoint_seconds: float = 30.0
    num_evaluators: int = 2

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise UserInputError naming the first invalid field."""
        self._check_types()
        _check(self.budget is None or self.budget >= 1, "budget", self.budget, "a positive number of candidates")
        _check(self.time_limit is None or self.time_limit > 0, "time_limit", self.time_limit, "a positive number of seconds")
        _check(isinstance(self.seed, int) and self.seed >= 0, "seed", self.seed, "an integer of at least 0")
        _check(self.population_size >= 2, "population_size", self.population_size, "at least 2")
        _check(
            1 <= self.tournament_size <= self.population_size,
            "tournament_size",
            self.tournament_size,
            f"between 1 and population_size ({self.population_size})",
        )
        _check(self.islands >= 1, "islands", self.islands, "at least 1")
        _check(
            self.islands == 1 or self.population_size // self.islands >= max(2, self.tournament_size),
            "islands",
            self.islands,
            f"at most population_size / max(2, tournament_size) = {self.population_size // max(2, self.tournament_size)}",
        )
        _check(self.migration_interval >= 1, "migration_interval", self.migration_interval, "at least 1")
        _check(self.batch_size >= 1, "batch_size", self.batch_size, "at least 1")
        _check(self.mutator in MUTATORS, "mutator", self.mutator, f"one of {', '.join(MUTATORS)}")
        _check(self.cache_size >= 1, "cache_size", self.cache_size, "at least 1")
        _check(self.cache_average_first >= 1, "cache_average_first", self.cache_average_first, "at least 1")
        _check(1 <= self.mantissa_bits <= 52, "mantissa_bits", self.mantissa_bits, "between 1 and 52")
        _check(self.distinct_hash_retries >= 0, "distinct_hash_retries", self.distinct_hash_retries, "0 or more")
        _check(self.leaderboard_size >= 1, "leaderboard_size", self.leaderboard_size, "at least 1")
        _check(self.checkpoint_seconds > 0, "checkpoint_seconds", self.checkpoint_seconds, "a positive number of seconds")
        _check(self.num_evaluators >= 1, "num_evaluators", self.num_evaluators, "at least 1")

    def _check_types(self) -> None:
        # A TOML file can hold any type, so types are checked before the comparisons below.
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None and "None" in str(field.type):
                continue
            if "int" in str(field.type) and not (isinstance(value, int) and not isinstance(value, bool)):
                raise UserInputError(f"invalid {field.name} {value!r}: expected an integer.")
            if "float" in str(field.type) and not (isinstance(value, (int, float)) and not isinstance(value, bool)):
                raise UserInputError(f"invalid {field.name} {value!r}: expected a number.")
            if field.type in (str, "str") and not isinstance(value, str):
                raise UserInputError(f"invalid {field.name} {value!r}: expected a string.")
            if field.type in (bool, "bool") and not isinstance(value, bool):
                raise UserInputError(f"invalid {field.name} {value!r}: expected true or false.")

    def replace(self, **changes: Any) -> "SearchConfig":
        """Return a copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _check(condition: bool, name: str, value: Any, expected: str) -> None:
    if not condition:
        raise UserInputError(f"invalid {name} {value!r}: expected {expected}.")


def load_config_file(path: str | Path) -> tuple[dict, dict]:
    """Read ``--config FILE.toml`` and return its ``[search]`` and ``[problem]`` tables.

    Raises:
        UserInputError: if the file is missing or invalid, or has unknown tables or keys.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"config file {str(path)!r} not found; check the path.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserInputError(f"cannot read config file {str(path)!r}: {error}.") from error
    except tomllib.TOMLDecodeError as error:
        raise UserInputError(f"config file {str(path)!r} is not valid TOML: {error}.") from error

    unknown_tables = set(data) - {"search", "problem"}
    if unknown_tables:
        raise UserInputError(
            f"config file {str(path)!r} has unknown tables {sorted(unknown_tables)}; "
            "use [search] for search settings and [problem] for the problem's settings."
        )
    for table in ("search", "problem"):
        if not isinstance(data.get(table, {}), dict):
            raise UserInputError(
                f"config file {str(path)!r} sets {table} = {data[table]!r}. "
                f"Write a table instead, [{table}] followed by key = value lines."
            )
    search = dict(data.get("search", {}))
    fields = {f.name for f in dataclasses.fields(SearchConfig)}
    for key in search:
        if key not in fields:
            raise UserInputError(
                f"unknown search setting {key!r} in {str(path)!r}.{did_you_mean(key, fields)}"
            )
    return search, dict(data.get("problem", {}))


def build_config(file_values: Mapping[str, Any], flags: Mapping[str, Any]) -> SearchConfig:
    """Merge defaults, config-file values and flags (flags win; None flags are ignored)."""
    values = dict(file_values)
    values.update({k: v for k, v in flags.items() if v is not None})
    try:
        return SearchConfig(**values)
    except TypeError as error:
        raise UserInputError(f"invalid search settings: {error}.") from error
