"""How an outside system's failure is told to Temporal: retry it, or stop and say why."""

from datetime import timedelta

from temporalio.exceptions import ApplicationError

RATE_LIMITED = "RateLimited"


def try_again(message: str) -> ApplicationError:
    """Transient (429, 5xx, network): Temporal retries with backoff."""
    return ApplicationError(message, type="Transient")


def rate_limited(message: str, retry_after: timedelta | None = None) -> ApplicationError:
    """A 429: the service did nothing. Temporal retries, no sooner than the service's `Retry-After`
    when it gave one (`next_retry_delay`), else with its backoff."""
    return ApplicationError(message, type=RATE_LIMITED, next_retry_delay=retry_after)


def give_up(message: str) -> ApplicationError:
    """A retry cannot fix it (bad credentials, a 4xx): fail the step once, visibly."""
    return ApplicationError(message, type="Refused", non_retryable=True)
