"""Condition operators: compile an operator and its predicate into a reusable check.

The semantics are Descope's (descope-compat.md §11.3), as the descope-js
evaluator implements them and states the Go server does:

- "Numeric" means a finite number, a bool (1 or 0) or a non-blank numeric
  string (`idflow.engine.conversions.to_number`); an operator that needs
  numbers is false when either side is not numeric.
- The text form of a value is `idflow.engine.conversions.to_text`: a missing
  target reads as ``""`` and `True` as ``"true"``.
- Strict equality keeps types apart (``1`` is not ``"1"`` nor `True`); unlike
  JavaScript's identity test, equal dicts and lists are equal (idflow).

idflow adds three date operators, ``before``, ``after`` and ``within-last``.
Dates are epoch numbers (below 100,000,000,000 seconds, else milliseconds, since
Descope writes seconds and idflow milliseconds), numeric strings, or ISO-8601
dates and datetimes (naive ones are UTC). A duration is a whole number and one
unit among s, m, h, d and w, such as ``90d``. ``lastLogin before 90d`` holds
when the last login is more than 90 days old; ``within-last 12h`` when the
target lies between 12 hours ago and now.

A check never raises while a run evaluates it: a target of the wrong kind only
makes it false. Predicates are checked when compiling, once per flow version;
only an unknown operator, a bad regular expression and a bad date or duration
are errors, the rest follows Descope (a malformed range makes ``in-range``
false and ``not-in-range`` true).
"""

from __future__ import annotations

import functools
import math
import operator as op
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import phonenumbers
import re2
from email_validator import EmailNotValidError, validate_email

from idflow.engine.context import MISSING
from idflow.engine.conversions import to_number, to_text
from idflow.errors import ConditionError

Test = Callable[[Any, int], bool]
"""A compiled operator: ``test(target, now_ms)`` answers whether it holds."""

Number = int | float

# Descope stores times in seconds (createdTime) and idflow in milliseconds;
# seconds cross this bound only in the year 5138, milliseconds left it in 1973.
SECONDS_BELOW: Final = 100_000_000_000

_UNIT_MS: Final = {
    "s": 1_000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
}
_DURATION = re.compile(r"([0-9]+)([smhdw])")

_RE2_OPTIONS = re2.Options()
# A bad pattern is reported as a ConditionError; RE2 must not also print it.
_RE2_OPTIONS.log_errors = False


@dataclass(frozen=True, slots=True)
class Check:
    """A condition operator compiled with its predicate; call it to evaluate.

    Attributes:
        operator: the operator name, such as ``greater-than``.
        predicate: the predicate as written in the flow.
        test: the compiled function behind `__call__`.
    """

    operator: str
    predicate: Any
    test: Test = field(repr=False, compare=False)

    def __call__(self, target: Any, now_ms: int) -> bool:
        """Answer whether the condition holds for a target.

        Args:
            target: the value looked up in the context, possibly `MISSING`.
            now_ms: the run's current time, in epoch milliseconds.

        Returns:
            True when it holds; never raises.
        """
        return self.test(target, now_ms)


def compile_condition(operator: str, predicate: Any) -> Check:
    """Compile an operator and a literal predicate into a `Check`.

    A predicate holding ``{{ path }}`` placeholders must be rendered first, at
    run time; see `evaluate`.

    Args:
        operator: one of `OPERATOR_NAMES`.
        predicate: the predicate value; ignored by operators that need none.

    Returns:
        The check.

    Raises:
        ConditionError: the operator is unknown, or the predicate is a bad
            regular expression, date or duration.
    """
    compiler = _COMPILERS.get(operator)
    if compiler is None:
        names = ", ".join(sorted(_COMPILERS))
        raise ConditionError(
            f"Condition operator {operator!r} is unknown; expected one of {names}."
        )

    return Check(operator, predicate, compiler(predicate))


def evaluate(operator: str, target: Any, predicate: Any, now_ms: int) -> bool:
    """Compile and run a condition in one call, for predicates known only at run time.

    Checks for string, number, bool and None predicates are cached, so a
    rendered predicate that repeats is compiled once.

    Args:
        operator: one of `OPERATOR_NAMES`.
        target: the value looked up in the context, possibly `MISSING`.
        predicate: the rendered predicate.
        now_ms: the run's current time, in epoch milliseconds.

    Returns:
        Whether the condition holds.

    Raises:
        ConditionError: as `compile_condition` does.
    """
    if predicate is None or isinstance(predicate, str | int | float):
        check = _cached_condition(operator, predicate)
    else:
        check = compile_condition(operator, predicate)

    return check(target, now_ms)


# typed=True keeps 1, 1.0 and True apart: `in` and `equal` treat them apart.
@functools.lru_cache(maxsize=1024, typed=True)
def _cached_condition(operator: str, predicate: Any) -> Check:
    return compile_condition(operator, predicate)


def _never(target: Any, now_ms: int) -> bool:
    return False


def _always(target: Any, now_ms: int) -> bool:
    return True


def _same(a: Any, b: Any) -> bool:
    """Strict equality: JSON types must match, and bools are not numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float):
        return isinstance(b, int | float) and a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(_same(v, b[k]) for k, v in a.items())
        )
    if isinstance(a, list | tuple):
        return (
            isinstance(b, list | tuple) and len(a) == len(b) and all(map(_same, a, b))
        )
    return type(a) is type(b) and a == b


def _equal(predicate: Any) -> Test:
    text = to_text(predicate)
    return lambda target, now_ms: _same(target, predicate) or to_text(target) == text


def _not_equal(predicate: Any) -> Test:
    equal = _equal(predicate)
    return lambda target, now_ms: not equal(target, now_ms)


def _contains(predicate: Any) -> Test:
    text = to_text(predicate)

    def test(target: Any, now_ms: int) -> bool:
        if isinstance(target, str):
            return text in target
        if isinstance(target, list | tuple):
            return any(_same(item, predicate) for item in target)
        return False

    return test


def _doesnt_contain(predicate: Any) -> Test:
    contains = _contains(predicate)
    return lambda target, now_ms: not contains(target, now_ms)


def _comparison(compare: Callable[[Number, Number], bool]) -> Callable[[Any], Test]:
    def compile_(predicate: Any) -> Test:
        bound = to_number(predicate)
        if bound is None:
            return _never

        def test(target: Any, now_ms: int) -> bool:
            number = to_number(target)
            return number is not None and compare(number, bound)

        return test

    return compile_


def _is_empty(target: Any) -> bool:
    if target is None or target is MISSING:
        return True
    return isinstance(target, str | list | tuple | dict) and len(target) == 0


def _empty(predicate: Any) -> Test:
    return lambda target, now_ms: _is_empty(target)


def _not_empty(predicate: Any) -> Test:
    return lambda target, now_ms: not _is_empty(target)


def _is_true_value(target: Any) -> bool:
    if isinstance(target, bool):
        return target
    if isinstance(target, int | float):
        return target != 0 and not math.isnan(target)
    return isinstance(target, str) and target == "true"


def _is_false_value(target: Any) -> bool:
    if isinstance(target, bool):
        return not target
    if isinstance(target, int | float):
        return target == 0
    return isinstance(target, str) and target == "false"


def _is_true(predicate: Any) -> Test:
    return lambda target, now_ms: _is_true_value(target)


def _is_false(predicate: Any) -> Test:
    return lambda target, now_ms: _is_false_value(target)


def _members(predicate: Any) -> tuple[Any, ...] | None:
    # Descope splits on commas and keeps the spaces: "a, b" holds " b", not "b".
    if isinstance(predicate, str):
        return tuple(predicate.split(","))
    if isinstance(predicate, list | tuple):
        return tuple(predicate)
    return None


def _membership(members: tuple[Any, ...]) -> Test:
    if all(type(m) is str for m in members):
        strings = frozenset(members)
        return lambda target, now_ms: isinstance(target, str) and target in strings
    return lambda target, now_ms: any(_same(target, m) for m in members)


def _in(predicate: Any) -> Test:
    members = _members(predicate)
    return _never if members is None else _membership(members)


def _not_in(predicate: Any) -> Test:
    members = _members(predicate)
    if members is None:
        return _never

    is_member = _membership(members)
    return lambda target, now_ms: not is_member(target, now_ms)


@functools.lru_cache(maxsize=256)
def _compile_regex(pattern: str) -> Any:
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        detail = (
            exc.args[0].decode()
            if exc.args and isinstance(exc.args[0], bytes)
            else str(exc)
        )
        raise ConditionError(
            f"Regular expression {pattern!r} is invalid ({detail}); expected RE2 syntax."
        ) from exc


def _matches(predicate: Any) -> Test:
    if not isinstance(predicate, str):
        raise ConditionError(
            f"Condition 'matches' got the predicate {predicate!r}; expected a regular expression string."
        )

    # search, not match: like Go's MatchString, the pattern may match anywhere.
    search = _compile_regex(predicate).search
    return lambda target, now_ms: isinstance(target, str) and search(target) is not None


def _is_email_value(target: Any) -> bool:
    if not isinstance(target, str):
        return False
    try:
        validate_email(target, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _is_phone_value(target: Any) -> bool:
    # Without a default region, only international numbers ("+" and the country
    # code) parse: a flow has no country to assume for a bare national number.
    if not isinstance(target, str):
        return False
    try:
        number = phonenumbers.parse(target, None)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(number))


def _is_email(predicate: Any) -> Test:
    return lambda target, now_ms: _is_email_value(target)


def _is_phone(predicate: Any) -> Test:
    return lambda target, now_ms: _is_phone_value(target)


def _bounds(predicate: Any) -> tuple[Number, Number] | None:
    if isinstance(predicate, str):
        ends: list[Any] = predicate.split(",")
    elif isinstance(predicate, list | tuple):
        ends = list(predicate)
    else:
        return None
    if len(ends) != 2:
        return None

    low, high = to_number(ends[0]), to_number(ends[1])
    return None if low is None or high is None else (low, high)


def _in_range(predicate: Any) -> Test:
    bounds = _bounds(predicate)
    if bounds is None:
        return _never

    low, high = bounds

    def test(target: Any, now_ms: int) -> bool:
        number = to_number(target)
        return number is not None and low <= number <= high

    return test


def _not_in_range(predicate: Any) -> Test:
    bounds = _bounds(predicate)
    if bounds is None:
        # Descope answers true for a range it cannot read; descope-js copies it.
        return _always

    low, high = bounds

    def test(target: Any, now_ms: int) -> bool:
        number = to_number(target)
        return number is not None and (number < low or number > high)

    return test


def _devised_by(predicate: Any) -> Test:
    divisor = to_number(predicate)
    if divisor is None or divisor == 0:
        return _never

    def test(target: Any, now_ms: int) -> bool:
        number = to_number(target)
        return number is not None and number % divisor == 0

    return test


def to_epoch_ms(value: Any) -> Number | None:
    """Return the instant a value names, in epoch milliseconds, or None.

    Args:
        value: an epoch number (seconds below `SECONDS_BELOW`, else
            milliseconds), a numeric string, an ISO-8601 date or datetime string
            (naive means UTC), or a `datetime`.

    Returns:
        Milliseconds since the epoch, or None for anything else, bools included.
    """
    if isinstance(value, datetime):
        return _datetime_ms(value)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None

    number = to_number(value)
    if number is not None:
        return number * 1000 if abs(number) < SECONDS_BELOW else number
    if not isinstance(value, str):
        return None
    try:
        return _datetime_ms(datetime.fromisoformat(value.strip()))
    except (ValueError, OverflowError):
        return None


def _datetime_ms(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() * 1000


def parse_duration_ms(text: Any) -> int:
    """Parse a duration such as ``90d`` into milliseconds.

    Args:
        text: a whole number followed by one unit among s, m, h, d and w.

    Returns:
        The duration in milliseconds.

    Raises:
        ConditionError: the text is not such a duration.
    """
    found = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if found is None:
        raise ConditionError(
            f"Duration {text!r} is malformed; expected a whole number and a unit among s, m, h, d and w, such as '90d'."
        )

    return int(found[1]) * _UNIT_MS[found[2]]


def _reference(operator: str, predicate: Any) -> Callable[[int], Number]:
    """Compile a before/after predicate into a function of the current time."""
    if predicate == "now":
        return lambda now_ms: now_ms
    if isinstance(predicate, str) and _DURATION.fullmatch(predicate.strip()):
        ago = parse_duration_ms(predicate)
        return lambda now_ms: now_ms - ago

    fixed = to_epoch_ms(predicate)
    if fixed is None:
        raise ConditionError(
            f"Condition {operator!r} got the predicate {predicate!r}; expected a date, 'now' or a duration such as '90d'."
        )
    return lambda now_ms: fixed


def _date_comparison(
    operator: str, compare: Callable[[Number, Number], bool]
) -> Callable[[Any], Test]:
    def compile_(predicate: Any) -> Test:
        reference = _reference(operator, predicate)

        def test(target: Any, now_ms: int) -> bool:
            moment = to_epoch_ms(target)
            return moment is not None and compare(moment, reference(now_ms))

        return test

    return compile_


def _within_last(predicate: Any) -> Test:
    span = parse_duration_ms(predicate)

    def test(target: Any, now_ms: int) -> bool:
        moment = to_epoch_ms(target)
        return moment is not None and now_ms - span <= moment <= now_ms

    return test


_COMPILERS: Final[dict[str, Callable[[Any], Test]]] = {
    "equal": _equal,
    "not-equal": _not_equal,
    "contains": _contains,
    "doesnt-contains": _doesnt_contain,
    "greater-than": _comparison(op.gt),
    "greater-than-or-equal": _comparison(op.ge),
    "less-than": _comparison(op.lt),
    "less-than-or-equal": _comparison(op.le),
    "empty": _empty,
    "not-empty": _not_empty,
    "is-true": _is_true,
    "is-false": _is_false,
    "in": _in,
    "not-in": _not_in,
    "matches": _matches,
    "is-email": _is_email,
    "is-phone": _is_phone,
    "in-range": _in_range,
    "not-in-range": _not_in_range,
    "devised-by": _devised_by,
    "before": _date_comparison("before", op.lt),
    "after": _date_comparison("after", op.gt),
    "within-last": _within_last,
}

OPERATOR_NAMES: Final = frozenset(_COMPILERS)
"""Every operator `compile_condition` accepts."""
