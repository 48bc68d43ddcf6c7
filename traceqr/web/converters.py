"""URL converters."""

from __future__ import annotations

from werkzeug.routing import BaseConverter, ValidationError

INT_MAX = 2**31 - 1  # PostgreSQL INTEGER, the type of most id columns
BIGINT_MAX = 2**63 - 1  # PostgreSQL BIGINT (stamps, scans, audit entries)


class IdConverter(BaseConverter):
    """A database id: 1 to 2147483647. A larger number cannot name a row, so its URL does
    not match (404) instead of reaching the database, which would refuse it (500)."""

    regex = r"[1-9][0-9]{0,9}"
    maximum = INT_MAX

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > self.maximum:
            raise ValidationError()
        return number

    def to_url(self, value: int) -> str:
        return str(int(value))


class BigIdConverter(IdConverter):
    """The id of a row in a BIGINT table (stamps): 1 to 2**63 - 1."""

    regex = r"[1-9][0-9]{0,18}"
    maximum = BIGINT_MAX
