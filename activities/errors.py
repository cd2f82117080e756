"""How an outside system's failure is told to Temporal: retry it, or stop and say why."""

from temporalio.exceptions import ApplicationError


def try_again(message: str) -> ApplicationError:
    """Transient (429, 5xx, network): Temporal retries with backoff."""
    return ApplicationError(message, type="Transient")


def give_up(message: str) -> ApplicationError:
    """A retry cannot fix it (bad credentials, a 4xx): fail the step once, visibly."""
    return ApplicationError(message, type="Refused", non_retryable=True)
