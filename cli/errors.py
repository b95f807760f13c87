"""What keeps the CLI from showing a traffic light; reported on stderr with exit code 6."""


class CliError(Exception):
    """Something the user must be told instead of an answer; `str()` says what."""


class ApiError(CliError):
    """The API answered an error, or could not be reached at all.

    Attributes:
        status: the HTTP status, or None when no answer came.
        message: the API's `error.message`, or what went wrong on the way.
    """

    def __init__(self, status: int | None, message: str, retry_after: str | None = None) -> None:
        text = message if status is None else f"{message} (HTTP {status})"
        if retry_after:
            text += f"; try again after {retry_after} s"
        super().__init__(text)
        self.status = status
        self.message = message
