"""Progress people expect: tqdm bars on a terminal (grid rows, feature passes), plain lines in logs and CI."""

import sys
import time

from tqdm.auto import tqdm

PLAIN_EVERY_SECONDS = 15  # a plain progress line at most this often (log files stay short)


def interactive():
    """True when stdout is a terminal (bars); False in CI, pipes and log files (plain lines)."""
    return sys.stdout.isatty()


class GridProgress:
    """Rows done / left and time left over a run's grid, as a tqdm meter line when each row starts (a static
    line, so it never fights the epoch bars of the row below it). Kept rows of a resumed run cost nothing, so
    the time left is estimated from the rows that ran."""

    BAR = "{bar:20} {n}/{total} rows done, {elapsed} elapsed, about {remaining} left"

    def __init__(self):
        self.total, self.index, self.kept, self.start_time = 0, 0, 0, None

    def begin(self, total):
        """The grid has `total` rows."""
        self.total, self.start_time = total, time.perf_counter()

    def start(self, spec, *, kept=False):
        """Announce a row (kept: already ok in the run being resumed)."""
        elapsed = time.perf_counter() - self.start_time
        meter = tqdm.format_meter(
            self.index, self.total, elapsed, initial=self.kept, bar_format=self.BAR, ascii=not interactive()
        )
        self.index += 1
        self.kept += kept
        note = "already ok, kept" if kept else spec.phase
        print(f"\n[{self.index}/{self.total}] {spec.id} ({note})   {meter}", flush=True)

    def finish(self, result):
        """A row finished; rows that ran elsewhere (Ray) are announced here, with their node."""
        if result.node:
            self.index += 1
            note = result.status if result.ok else f"{result.status}: {result.reason}"
            print(f"[{self.index}/{self.total}] {result.id} {note} on {result.node}", flush=True)

    def cluster(self, counts):
        """Rows done, in flight, and which run on which node (when Ray's state API answers)."""
        elapsed = time.perf_counter() - self.start_time
        meter = tqdm.format_meter(
            counts["done"], self.total, elapsed, initial=self.kept, bar_format=self.BAR, ascii=not interactive()
        )
        queued = max(0, counts["in_flight"] - len([n for n, _ in counts["running"] or [] if n.startswith("row")]))
        line = f"  cluster: {counts['in_flight']} rows in flight"
        if counts["running"] is not None:
            line += f" ({queued} queued); running: " + (
                ", ".join(f"{n} on {node}" for n, node in counts["running"]) or "none"
            )
        print(f"{line}   {meter}", flush=True)


class Counter:
    """Items done of a total with rate and time left: a tqdm bar on a terminal, a plain line every 15 s otherwise."""

    def __init__(self, total, unit, desc):
        self.total, self.unit, self.desc = total, unit, desc
        self.start, self.last, self.done = time.perf_counter(), 0.0, 0
        self.bar = tqdm(total=total, unit=unit, desc=desc, file=sys.stdout, leave=False) if interactive() else None

    def update(self, done):
        """Report that `done` items are finished."""
        if self.bar is not None:
            self.bar.update(done - self.done)
            self.done = done
            if done >= self.total:
                self.bar.close()
            return
        self.done = done
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        if done == self.total or elapsed - self.last >= PLAIN_EVERY_SECONDS:
            self.last = elapsed
            rate = done / elapsed
            left = (self.total - done) / max(rate, 1e-9)
            print(
                f"  {done:,}/{self.total:,} {self.unit}s, {rate:,.0f} {self.unit}/s, {elapsed:.1f}s elapsed, "
                f"{left:.0f}s left",
                flush=True,
            )
