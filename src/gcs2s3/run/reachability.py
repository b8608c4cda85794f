"""Before a run writes anything: can GCS and S3 be reached at all?

A task in a private subnet without a NAT gateway, a proxy that refuses, a CA bundle that does not trust
the server: each would otherwise surface minutes later, deep inside the SDKs' retries, as an error
naming an internal key. Both services are asked a one-item listing at once, each try bounded by
`network_timeout_s`, tried `network_retries` more times when the cause may pass (refused, no answer;
never a name that does not resolve, an untrusted certificate or a proxy's refusal, which a retry
cannot mend). A server that answers, even with an error worth retrying (5xx, SlowDown), was reached:
the listing's own retries deal with that. The first failure ends the check at once as a ConfigError
(exit 2) that says which service, which host, and what to check; the other request is not waited for
(its thread is a daemon).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from gcs2s3.core.config import Settings
from gcs2s3.core.errors import TransientError, UnreachableError, as_config_error
from gcs2s3.core.retrying import retried
from gcs2s3.stores.protocols import Source, Target


def _tried(ask: Callable[[], None], retries: int) -> None:
    try:
        retried(ask, attempts=retries + 1, retry_on=UnreachableError,
                give_up=lambda exc: isinstance(exc, UnreachableError) and exc.lasting)
    except UnreachableError:
        raise
    except TransientError:  # it answered (busy, 5xx): reached; the listing's own retries take over
        return


def check_reachable(settings: Settings, source: Source, primary: Target) -> None:
    """Raise a ConfigError when GCS or S3 cannot be reached, or the source or primary bucket cannot
    be listed (not found, access denied); return when both answered."""
    timeout, retries = settings.network_timeout_s, settings.network_retries

    def gcs() -> None:
        with as_config_error(f"GCS bucket gs://{settings.gcs_bucket}", "gcs_bucket"):
            _tried(lambda: source.probe(settings.path, timeout), retries)

    def s3() -> None:
        with as_config_error(f"S3 bucket s3://{settings.s3_bucket}", "s3_bucket"):
            _tried(lambda: primary.probe(settings.s3_prefix, timeout), retries)

    answers: queue.Queue[BaseException | None] = queue.Queue()

    def run(check: Callable[[], None]) -> None:
        try:
            check()
        except BaseException as exc:  # handed to the waiting thread, which raises it
            answers.put(exc)
        else:
            answers.put(None)

    for name, check in (("gcs2s3-reach-gcs", gcs), ("gcs2s3-reach-s3", s3)):
        threading.Thread(target=run, args=(check,), name=name, daemon=True).start()
    for _ in range(2):
        failure = answers.get()  # a Ctrl-C interrupts the wait
        if failure is not None:
            raise failure
