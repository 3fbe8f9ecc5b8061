"""When an alarm mute rule mutes: its schedule (`cron(...)` or `at(...)`), Duration, Timezone,
StartDate and ExpireDate, as PutAlarmMuteRule documents them.

* `cron(Minutes Hours Day-of-month Month Day-of-week)`: a mute window opens at every matching minute.
  Fields take `*`, numbers, `-` ranges and `,` lists, English names for months (JAN-DEC) and days
  (SUN-SAT); days of the week are 0-7 with 0 and 7 Sunday, as in cron. As in cron, when both
  day fields are restricted a day matching either one matches.
* `at(yyyy-MM-ddThh:mm)`: one window (MuteType ONE_TIME).
* Duration: ISO 8601 (`PT4H`, `P2DT12H`, `P1W`), from PT1M to P15D.
* Timezone: an IANA name (default UTC); the expression's times are local to it.

`status()` gives SCHEDULED / ACTIVE / EXPIRED at an instant; ACTIVE means targeted alarms are muted.
Invalid input raises `ScheduleError` (the API answers InvalidParameterValue).
"""
from __future__ import annotations

import datetime as dt
import re
import zoneinfo

MIN_DURATION, MAX_DURATION = dt.timedelta(minutes=1), dt.timedelta(days=15)
MONTHS = {m: i for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), 1)}
DAYS = {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}
_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_AT = re.compile(r"^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})\)$")
_CRON = re.compile(r"^cron\(([^()]*)\)$")


class ScheduleError(ValueError):
    pass


def duration(text: str) -> dt.timedelta:
    m = _DURATION.match(text or "")
    if not m or text in ("P", "PT") or text.endswith("T"):
        raise ScheduleError(f"Duration {text} is not an ISO 8601 duration (for example PT4H or P2DT12H)")
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in m.groups())
    try:
        value = dt.timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        value = MAX_DURATION * 2
    if not MIN_DURATION <= value <= MAX_DURATION:
        raise ScheduleError(f"Duration {text} must be between PT1M and P15D")
    return value


def timezone(name: str | None) -> dt.tzinfo:
    if not name or name == "UTC":
        return dt.timezone.utc
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"Timezone {name} is not a known time zone") from None


def _field(text: str, lo: int, hi: int, names: dict[str, int] | None = None) -> set[int] | None:
    """The values a cron field allows; None for `*` (anything)."""
    if text in ("*", "?"):
        return None
    out: set[int] = set()
    for part in text.split(","):
        ends = part.split("-")
        if len(ends) > 2 or not all(ends):
            raise ScheduleError(f"cron field {text} is not valid")
        values = []
        for end in ends:
            if end.upper() in (names or {}):
                values.append(names[end.upper()])
            elif end.isdigit():
                values.append(int(end))
            else:
                raise ScheduleError(f"cron field {text} is not valid (only numbers, names, *, - and , are)")
        first, last = values[0], values[-1]
        if not (lo <= first <= hi and lo <= last <= hi) or first > last:
            raise ScheduleError(f"cron field {text} is out of range {lo}-{hi}")
        out.update(range(first, last + 1))
    return out


class Schedule:
    """A parsed schedule: `window_at(t)` is the mute window (start, end) holding t, or None."""

    def __init__(self, expression: str, duration_text: str, timezone_name: str | None = None) -> None:
        self.duration = duration(duration_text)
        self.tz = timezone(timezone_name)
        self.at: dt.datetime | None = None
        expression = (expression or "").strip()
        if m := _AT.match(expression):
            try:
                self.at = dt.datetime(*(int(g) for g in m.groups()), tzinfo=self.tz)
                self.at + self.duration                # the window must end before the year 10000
            except (ValueError, OverflowError):
                raise ScheduleError(f"{expression} is not a valid date and time") from None
            return
        m = _CRON.match(expression)
        fields = m.group(1).split() if m else []
        if len(fields) != 5:
            raise ScheduleError(f"Expression {expression} must be cron(Minutes Hours Day-of-month Month "
                                "Day-of-week) or at(yyyy-MM-ddThh:mm)")
        self.minutes = _field(fields[0], 0, 59)
        self.hours = _field(fields[1], 0, 23)
        self.days = _field(fields[2], 1, 31)
        self.months = _field(fields[3], 1, 12, MONTHS)
        weekdays = _field(fields[4], 0, 7, DAYS)
        self.weekdays = None if weekdays is None else {d % 7 for d in weekdays}

    @property
    def mute_type(self) -> str:
        return "ONE_TIME" if self.at is not None else "RECURRING"

    def _day_matches(self, day: dt.date) -> bool:
        if self.months is not None and day.month not in self.months:
            return False
        dom = self.days is None or day.day in self.days
        dow = self.weekdays is None or (day.isoweekday() % 7) in self.weekdays
        if self.days is not None and self.weekdays is not None:
            return dom or dow                       # cron: either restricted day field
        return dom and dow

    def last_start(self, t: dt.datetime) -> dt.datetime | None:
        """The latest window start at or before t within one Duration (older windows are over)."""
        if self.at is not None:
            return self.at if self.at <= t else None
        local = t.astimezone(self.tz)
        minutes = sorted(self.minutes if self.minutes is not None else range(60), reverse=True)
        hours = sorted(self.hours if self.hours is not None else range(24), reverse=True)
        for back in range(self.duration.days + 2):
            day = local.date() - dt.timedelta(days=back)
            if not self._day_matches(day):
                continue
            for h in hours:
                for m in minutes:
                    start = dt.datetime(day.year, day.month, day.day, h, m, tzinfo=self.tz)
                    if start <= t:
                        return start
        return None

    def window_at(self, t: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
        start = self.last_start(t)
        if start is not None and t < start + self.duration:
            return start, start + self.duration
        return None


def status(schedule: Schedule, t: dt.datetime, start: dt.datetime | None = None,
           expire: dt.datetime | None = None) -> str:
    """SCHEDULED, ACTIVE or EXPIRED at instant t."""
    if expire is not None and t >= expire:
        return "EXPIRED"
    if schedule.at is not None and t >= schedule.at + schedule.duration:
        return "EXPIRED"                             # a one-time window that is over
    if start is not None and t < start:
        return "SCHEDULED"
    return "ACTIVE" if schedule.window_at(t) is not None else "SCHEDULED"
