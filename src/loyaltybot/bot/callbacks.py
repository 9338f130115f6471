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


class SaleCb(CallbackData, prefix="sale"):
    action: str  # "cancel"


class MemberCb(CallbackData, prefix="mem"):
    """Staff actions on a scanned member card; `key` is the card's member key (re-checked)."""

    action: str  # "buy" | "stamp" | "cancel"
    key: str


class InviteCb(CallbackData, prefix="inv"):
    action: str  # "yes" | "no"
    token: str


class StaffCb(CallbackData, prefix="stf"):
    action: str  # "invite" | "remove" | "remove_yes" | "remove_no"
    id: int = 0


class PromoCb(CallbackData, prefix="promo"):
    """Buttons under a promotion: "stop" (opt out in one tap) | "rewards"."""

    action: str


class BroadcastCb(CallbackData, prefix="bc"):
    """The owner's broadcast composer and list. `id` is a campaign id where it matters."""

    action: str
    id: int = 0


class RewardCb(CallbackData, prefix="rw"):
    """A customer's actions in /rewards; `id` is a reward (redeem) or a redemption (show, cancel)."""

    action: str  # "redeem" | "show" | "cancel"
    id: int


class RedeemCb(CallbackData, prefix="rdm"):
    """Staff confirming a scanned redemption; `code` is re-checked by the service."""

    action: str  # "confirm"
    code: str


class VoucherCb(CallbackData, prefix="vch"):
    """`use` (staff, `code` is the voucher id) or `show` (customer, `code` is the signed payload)."""

    action: str
    code: str


class CatalogueCb(CallbackData, prefix="cat"):
    """The owner's catalogue in /admin → Rewards."""

    action: str  # "new" | "open" | "edit" | "pause" | "resume" | "skip" | "tier" | "list"
    id: int = 0
    field: str = ""


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


class AutomationCb(CallbackData, prefix="auto"):
    """The owner's automatic offers in /admin → Automations; `key` is "birthday", "winback" or
    "festival/<slug>" (":" is aiogram's separator; checked by the service)."""

    action: str  # "on" | "off" | "preview"
    key: str
