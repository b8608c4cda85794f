"""Peak memory of a child process, for the benchmarks and the test peers.

`os.wait4` and `RUSAGE_CHILDREN` report a child's `ru_maxrss` including what its parent held when it
forked (Linux carries the high-water mark across fork and exec), so a small child of a large parent
looks large. This reads the child's own high-water mark (`VmHWM`, reset by exec) from /proc while it
runs, until it exits.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

_HWM = re.compile(r"^VmHWM:\s+(\d+) kB", re.MULTILINE)


def watch_peak_rss(process: subprocess.Popen[bytes] | subprocess.Popen[str], interval_s: float = 0.02
                   ) -> threading.Thread:
    """Start watching `process`; once it has exited, `thread.peak_kib` holds its peak RSS in KiB."""
    status = Path(f"/proc/{process.pid}/status")

    def watch() -> None:
        while process.poll() is None:
            try:
                found = _HWM.search(status.read_text())
            except OSError:  # gone between the poll and the read
                break
            if found:
                thread.peak_kib = max(thread.peak_kib, int(found[1]))  # type: ignore[attr-defined]
            time.sleep(interval_s)

    thread = threading.Thread(target=watch, name=f"peak-rss-{process.pid}", daemon=True)
    thread.peak_kib = 0  # type: ignore[attr-defined]
    thread.start()
    return thread
