"""How a poll fails: one exception, saying whether it counts toward freezing."""


class PollFailed(Exception):
    """A poll that found nothing usable: the source could not be reached, refused, answered
    something that is not its kind of list, or the trigger cannot be polled as configured.

    ``counted``: the failure adds to the trigger's failure streak (a rate limit does not);
    ``retry_after``: the seconds the source asked to wait (``Retry-After``), if it did.
    """

    def __init__(self, message: str, *, counted: bool = True, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.counted = counted
        self.retry_after = retry_after
