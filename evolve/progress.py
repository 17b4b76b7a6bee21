"""Progress shown while a search runs: a rich progress bar on a terminal, log lines otherwise."""

import collections
import contextlib
import logging
import time
from collections.abc import Callable, Iterator

from evolve.config import SearchConfig
from evolve.tables import format_number

logger = logging.getLogger(__name__)

PROGRESS_LOG_SECONDS = 5.0


class _RateMeter:
    """Candidates per second over the last ``window`` seconds."""

    def __init__(self, window: float = 10.0):
        self.window = window
        self.samples: collections.deque[tuple[float, int]] = collections.deque()

    def update(self, count: int) -> float:
        now = time.monotonic()
        self.samples.append((now, count))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window:
            self.samples.popleft()
        start_time, start_count = self.samples[0]
        return (count - start_count) / (now - start_time) if now > start_time else 0.0


class LogProgress:
    """Logs one progress line every ``PROGRESS_LOG_SECONDS``, for output that is not a terminal."""

    def __init__(self):
        self.meter = _RateMeter()
        self.last_line: float | None = None

    def update(self, search) -> None:
        rate = self.meter.update(search.counters.candidates)
        if self.last_line is None:
            # The first generation only starts the clock; its rate would be 0.
            self.last_line = time.monotonic()
            return
        if time.monotonic() - self.last_line < PROGRESS_LOG_SECONDS:
            return
        self.last_line = time.monotonic()
        stats = search.stats()
        logger.info(
            "progress: %d candidates, %.1f candidates/s, cache hit rate %.1f%%, best score %s",
            stats["candidates"],
            rate,
            100 * stats["hit_rate"],
            format_number(stats["best_score"]),
        )


class RichProgress:
    """A rich progress bar with candidates/s, cache hit rate and best score."""

    def __init__(self, console, total: int | None):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("searching"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:.1f} candidates/s"),
            TextColumn("cache hit rate {task.fields[hit_rate]:.1%}"),
            TextColumn("best {task.fields[best]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.task = self.progress.add_task("search", total=total, rate=0.0, hit_rate=0.0, best="-")
        self.meter = _RateMeter()

    def update(self, search) -> None:
        stats = search.stats()
        self.progress.update(
            self.task,
            completed=stats["candidates"],
            rate=self.meter.update(stats["candidates"]),
            hit_rate=stats["hit_rate"],
            best=format_number(stats["best_score"]),
        )


@contextlib.contextmanager
def progress_display(config: SearchConfig, console, quiet: bool) -> Iterator[Callable | None]:
    """Yield the ``on_generation`` callback that shows progress, or None with --quiet."""
    if quiet:
        yield None
    elif console is None:
        yield LogProgress().update
    else:
        display = RichProgress(console, config.budget)
        with display.progress:
            yield display.update
