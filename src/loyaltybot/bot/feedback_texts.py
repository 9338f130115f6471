"""Localized messages for survey, suggestion and dashboard errors and labels."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from loyaltybot.domain.errors import DomainError


def feedback_error_text(error: DomainError) -> str | None:
    """The message for a feedback error code, or None for codes handled elsewhere."""
    code = error.code
    details = error.details
    if code == "survey_not_found":
        return _("That survey does not exist.")
    if code == "survey_not_open":
        return _("This survey is closed or not available to you.")
    if code == "survey_already_completed":
        return _("You have already completed this survey. Thank you!")
    if code == "question_already_answered":
        return _("You have already answered that question. Open /surveys to continue.")
    if code == "question_not_optional":
        return _("This question cannot be skipped.")
    if code == "survey_answer_invalid":
        kind = details.get("kind")
        if kind == "rating":
            return _("Please choose a rating from 1 to 5.")
        if kind == "nps":
            return _("Please choose a number from 0 to 10.")
        if kind == "choice":
            return _("Please choose one of the options.")
        return _("Please type an answer of at most 1000 characters.")
    if code == "suggestion_invalid":
        return _("Please write your suggestion in {min} to {max} characters.").format(
            min=details.get("min", 3), max=details.get("max", 1000)
        )
    if code == "suggestion_limit":
        return _("Thank you! You have sent {limit} suggestions today; please send more tomorrow.").format(
            limit=details.get("limit", 5)
        )
    if code == "suggestion_not_found":
        return _("That suggestion does not exist.")
    if code == "suggestion_already_adopted":
        return _("That suggestion was already adopted.")
    if code == "survey_definition_invalid":
        return definition_error_text(error)
    return None


def definition_error_text(error: DomainError) -> str:
    reason = error.details.get("reason")
    line = int(error.details.get("line", 0))
    reasons = {
        "needs_both_languages": _("write the text in English and Malay separated by “|”"),
        "too_long": _("the text is too long"),
        "bad_number": _("give a whole number from {low} to {high}").format(
            low=error.details.get("low", 0), high=error.details.get("high", 0)
        ),
        "option_without_choice": _("an option (“- …”) must follow a “choice:” question"),
        "too_many_options": _("a question can have at most {limit} options").format(limit=error.details.get("limit", 8)),
        "not_key_value": _("write “key: value”"),
        "too_many_questions": _("a survey can have at most {limit} questions").format(limit=error.details.get("limit", 20)),
        "unknown_key": _("unknown key"),
        "bad_repeat": _("repeat must be “once” or “monthly”"),
        "bad_audience": _("audience must be “all”, “recent DAYS” or “tier CODE”"),
        "unknown_tier": _("the tier must be one of: {tiers}").format(tiers=error.details.get("tiers", "")),
        "no_title": _("a “title:” line is missing"),
        "no_questions": _("add at least one question"),
        "all_optional": _("at least one question must not be optional"),
        "choice_needs_options": _("each choice question needs at least two options"),
    }
    explanation = reasons.get(str(reason), _("cannot be read"))
    if line:
        return _("⚠️ Line {line}: {reason}. Please correct it and send the whole survey again.").format(
            line=line, reason=explanation
        )
    return _("⚠️ {reason}. Please correct it and send the whole survey again.").format(reason=explanation)


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def decimal(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


# Telegram refuses messages over 4096 characters; leave room for the entities' overhead.
MESSAGE_BUDGET = 3800


def fit_message(lines: list[str]) -> str:
    """Join whole lines (each is balanced HTML) while they fit in one message; "…" marks the cut."""
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > MESSAGE_BUDGET:
            kept.append("…")
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)
