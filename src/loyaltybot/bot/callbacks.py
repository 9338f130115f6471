"""Inline-button payloads. Callback data is user input: handlers re-check everything.

Every text field has a pattern, so data outside it (a NUL byte, which PostgreSQL refuses in
any statement; characters no button of ours makes) never matches a handler: the press gets
the "no longer active" answer and changes nothing.
"""

from __future__ import annotations

from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

# An action, section, language or field name of ours.
Word = Annotated[str, Field(pattern=r"^[a-z0-9_]{0,32}$")]
# A token id, member key or signed payload (domain/tokens.py: URL-safe characters).
Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class LanguageCb(CallbackData, prefix="lang"):
    code: Word
    context: Word  # "reg" during registration, "set" from settings


class ConsentCb(CallbackData, prefix="consent"):
    accept: bool


class BirthdayCb(CallbackData, prefix="bday"):
    action: Word  # "skip" | "cancel"


class SettingsCb(CallbackData, prefix="set"):
    action: Word  # "lang" | "bday" | "promo_on" | "promo_off"


class PrivacyCb(CallbackData, prefix="priv"):
    action: Word  # "export" | "delete" | "delete_yes" | "delete_no"


class HistoryCb(CallbackData, prefix="hist"):
    page: int


class CardCb(CallbackData, prefix="card"):
    action: Word  # "rotate" | "rotate_yes" | "rotate_no"


class AdminCb(CallbackData, prefix="adm"):
    """Sections of the owner's /admin hub: "activity", "staff", "broadcasts", "rewards", ...

    Each feature's router handles its own section; /admin only lists the buttons.
    """

    section: Word


class SaleCb(CallbackData, prefix="sale"):
    action: Word  # "cancel"


class MemberCb(CallbackData, prefix="mem"):
    """Staff actions on a scanned member card; `key` is the card's member key (re-checked)."""

    action: Word  # "buy" | "stamp" | "cancel"
    key: Code


class InviteCb(CallbackData, prefix="inv"):
    action: Word  # "yes" | "no"
    token: Code


class StaffCb(CallbackData, prefix="stf"):
    action: Word  # "invite" | "remove" | "remove_yes" | "remove_no"
    id: int = 0


class PromoCb(CallbackData, prefix="promo"):
    """Buttons under a promotion: "stop" (opt out in one tap) | "rewards"."""

    action: Word


class BroadcastCb(CallbackData, prefix="bc"):
    """The owner's broadcast composer and list. `id` is a campaign id where it matters."""

    action: Word
    id: int = 0


class RewardCb(CallbackData, prefix="rw"):
    """A customer's actions in /rewards; `id` is a reward (redeem) or a redemption (show, cancel)."""

    action: Word  # "redeem" | "show" | "cancel"
    id: int


class RedeemCb(CallbackData, prefix="rdm"):
    """Staff confirming a scanned redemption; `code` is re-checked by the service."""

    action: Word  # "confirm"
    code: Code


class VoucherCb(CallbackData, prefix="vch"):
    """`use` (staff, `code` is the voucher id) or `show` (customer, `code` is the signed payload)."""

    action: Word
    code: Code


class CatalogueCb(CallbackData, prefix="cat"):
    """The owner's catalogue in /admin → Rewards."""

    action: Word  # "new" | "open" | "edit" | "pause" | "resume" | "skip" | "tier" | "list"
    id: int = 0
    field: Word = ""


class SurveyCb(CallbackData, prefix="sv"):
    """A customer's survey buttons: "open", "ans" (value = score or option), "skip", "suggest"."""

    action: Word
    survey: int = 0
    question: int = 0
    value: int = 0


class OwnerSurveyCb(CallbackData, prefix="osv"):
    """The owner's survey screens: "list", "new", "confirm", "cancel", "show", "close", "csv"."""

    action: Word
    survey: int = 0


class SuggestionCb(CallbackData, prefix="sug"):
    """The owner's suggestion list ("list") and adopting one ("adopt")."""

    action: Word
    id: int = 0


class StatsCb(CallbackData, prefix="st"):
    """Dashboard extras: "charts", "csv"."""

    action: Word


class AutomationCb(CallbackData, prefix="auto"):
    """The owner's automatic offers in /admin → Automations; `key` is "birthday", "winback" or
    "festival/<slug>" (":" is aiogram's separator; checked by the service)."""

    action: Word  # "on" | "off" | "preview"
    key: Annotated[str, Field(pattern=r"^[a-z0-9_/-]{1,56}$")]
