"""Money as integer sen: parsing what a cashier types, and plain formatting.

Amounts are always stored and computed as integer minor units (sen for MYR)
so that no rounding error can ever creep into balances, points or reports.
Floats are never used, not even transiently while parsing.

Parsing rules (:func:`parse_amount`), chosen to match how amounts are typed
at a Malaysian till:

* Surrounding whitespace is ignored, and an optional ``RM`` prefix (any case,
  optionally followed by spaces) is accepted: ``"RM25.50"``, ``"rm 25.50"``.
* Only ASCII digits count. Other Unicode digits (e.g. Arabic-Indic ``"٣"``)
  are rejected rather than silently interpreted.
* A dot is always the decimal separator, with 1 or 2 decimals.
* A comma is a **thousands separator** when every comma-separated group after
  the first has exactly 3 digits and the number then ends or continues with a
  dot: ``"1,234"`` is RM 1,234.00, ``"1,234.50"`` is RM 1,234.50,
  ``"1,234,567"`` is RM 1,234,567.00. The first group has 1-3 digits.
* Otherwise a single comma followed by 1 or 2 digits at the end is a
  **decimal separator** (common on phones with a European keypad):
  ``"25,50"`` is RM 25.50, ``"25,5"`` is RM 25.50.
* At least one digit is required before the decimal separator (``".50"`` is
  rejected) and at least one after it (``"25."`` is rejected), so a slip of
  the finger is caught instead of guessed at.
* More than 2 decimals (``"25.505"``) raises :class:`AmountTooPrecise`, a
  subclass of :class:`AmountMalformed` with its own code so the bot can say
  exactly what is wrong. (Note ``"25,505"`` is a valid thousands group.)
* A leading ``-`` is recognised only to report :class:`AmountNotPositive`
  instead of "malformed"; zero is also not positive.
* Exponents, ``NaN``, ``Infinity``, underscores, ``+`` signs, inner spaces
  and anything else raise :class:`AmountMalformed`.
"""

from __future__ import annotations

import re

from loyaltybot.domain.errors import DomainError

__all__ = [
    "AmountError",
    "AmountMalformed",
    "AmountNotPositive",
    "AmountTooLarge",
    "AmountTooPrecise",
    "format_amount",
    "parse_amount",
]


class AmountError(DomainError):
    """Base class for anything wrong with a typed amount."""

    code = "amount_error"


class AmountMalformed(AmountError):
    """The text is not a recognisable amount of money."""

    code = "amount_malformed"


class AmountTooPrecise(AmountMalformed):
    """More than 2 decimals: sen are the smallest unit, so we refuse to round."""

    code = "amount_too_precise"


class AmountNotPositive(AmountError):
    """Zero or negative: a purchase or reward always moves a positive amount."""

    code = "amount_not_positive"


class AmountTooLarge(AmountError):
    """Above the shop's configured ceiling; ``details['max_sen']`` says which.

    The ceiling guards against a cashier typing a phone number or a receipt
    number into the amount field and minting a fortune in points.
    """

    code = "amount_too_large"


# Only ASCII digits: ``\d`` would also match other scripts' digits.
_PREFIX = re.compile(r"(?i:rm)[ \t]*")
_GROUPED = r"[0-9]{1,3}(?:,[0-9]{3})+"
_PLAIN = r"[0-9]+"
# (sign)(integer part)(decimal part after a dot) or (decimal part after a comma)
_AMOUNT = re.compile(
    rf"(?P<sign>-?)[ \t]*"
    rf"(?:"
    rf"(?P<int>{_GROUPED}|{_PLAIN})(?:\.(?P<dot>[0-9]+))?"
    rf"|(?P<cint>{_PLAIN}),(?P<comma>[0-9]{{1,2}})"
    rf")",
    re.ASCII,
)
# A leading "-" may come before or after the currency prefix ("-RM5", "RM -5").
_NEG_PREFIX = re.compile(r"-[ \t]*")

# Any amount whose integer part has more digits than this is too large for any
# realistic ceiling; checking length first avoids converting huge digit
# strings (Python caps int() on very long strings).
_MAX_INT_DIGITS = 30


def parse_amount(text: str, *, max_sen: int) -> int:
    """Parse a typed amount into integer sen, strictly (see module docstring).

    ``max_sen`` is mandatory so that no call site can forget the sanity
    ceiling. Raises :class:`AmountMalformed` (or its subclass
    :class:`AmountTooPrecise`), :class:`AmountNotPositive` or
    :class:`AmountTooLarge`; the result is always in ``1..max_sen``.
    """
    if max_sen < 1:
        raise ValueError(f"max_sen must be positive, got {max_sen}")
    if not isinstance(text, str):
        raise AmountMalformed(text=repr(text))

    rest = text.strip()
    negative = False
    neg = _NEG_PREFIX.match(rest)
    if neg:
        negative = True
        rest = rest[neg.end() :]
    prefix = _PREFIX.match(rest)
    if prefix:
        rest = rest[prefix.end() :]

    match = _AMOUNT.fullmatch(rest)
    if match is None:
        raise AmountMalformed(text=text)
    if match.group("sign"):
        if negative:  # "--5", "-RM -5"
            raise AmountMalformed(text=text)
        negative = True

    if match.group("cint") is not None:
        int_digits = match.group("cint")
        frac_digits = match.group("comma")
    else:
        int_digits = match.group("int").replace(",", "")
        frac_digits = match.group("dot") or ""
    if len(frac_digits) > 2:
        raise AmountTooPrecise(text=text)

    int_digits = int_digits.lstrip("0") or "0"
    if len(int_digits) > _MAX_INT_DIGITS:
        if negative:
            raise AmountNotPositive(text=text)
        raise AmountTooLarge(text=text, max_sen=max_sen)

    sen = int(int_digits) * 100 + int(frac_digits.ljust(2, "0"))
    if negative or sen == 0:
        raise AmountNotPositive(text=text)
    if sen > max_sen:
        raise AmountTooLarge(text=text, max_sen=max_sen)
    return sen


def format_amount(sen: int, currency: str = "MYR") -> str:
    """Render integer sen as ``"RM 1,234.50"`` (MYR) or ``"SGD 1,234.50"``.

    Deliberately simple and locale-free: the bot wraps it in localized text.
    Thousands are grouped with commas for readability at a glance; the output
    is always accepted back by :func:`parse_amount` (for positive amounts).
    Every currency is shown with 2 decimals, which holds for the currencies
    the project targets (MYR, SGD, ...).
    """
    if isinstance(sen, bool) or not isinstance(sen, int):
        raise TypeError(f"sen must be an int, got {type(sen).__name__}")
    symbol = "RM" if currency.upper() == "MYR" else currency.upper()
    sign = "-" if sen < 0 else ""
    whole, frac = divmod(abs(sen), 100)
    return f"{sign}{symbol} {whole:,}.{frac:02d}"
