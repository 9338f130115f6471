"""Inline-button payloads. Callback data is user input: handlers re-check everything."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class LanguageCb(CallbackData, prefix="lang"):
    code: str
    context: str  # "reg" during registration, "set" from settings


class ConsentCb(CallbackData, prefix="consent"):
    accept: bool


class BirthdayCb(CallbackData, prefix="bday"):
    action: str  # "skip" | "cancel"


class SettingsCb(CallbackData, prefix="set"):
    action: str  # "lang" | "bday" | "promo_on" | "promo_off"


class PrivacyCb(CallbackData, prefix="priv"):
    action: str  # "export" | "delete" | "delete_yes" | "delete_no"


class HistoryCb(CallbackData, prefix="hist"):
    page: int


class CardCb(CallbackData, prefix="card"):
    action: str  # "rotate" | "rotate_yes" | "rotate_no"


class AdminCb(CallbackData, prefix="adm"):
    """Sections of the owner's /admin hub: "activity", "staff", "broadcasts", "rewards", ...

    Each feature's router handles its own section; /admin only lists the buttons.
    """

    section: str


class SurveyCb(CallbackData, prefix="sv"):
    """A customer's survey buttons: "open", "ans" (value = score or option), "skip", "suggest"."""

    action: str
    survey: int = 0
    question: int = 0
    value: int = 0


class OwnerSurveyCb(CallbackData, prefix="osv"):
    """The owner's survey screens: "list", "new", "confirm", "cancel", "show", "close", "csv"."""

    action: str
    survey: int = 0


class SuggestionCb(CallbackData, prefix="sug"):
    """The owner's suggestion list ("list") and adopting one ("adopt")."""

    action: str
    id: int = 0


class StatsCb(CallbackData, prefix="st"):
    """Dashboard extras: "charts", "csv"."""

    action: str
