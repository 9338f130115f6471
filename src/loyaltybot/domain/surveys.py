"""Survey rules: question kinds and their scales, answer validation, periods, and the owner's
plain-text survey definition (parsed here, so it is tested without a bot)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from loyaltybot.domain.errors import DomainError

KINDS = ("rating", "nps", "choice", "text")
RATING_SCALE = range(1, 6)
NPS_SCALE = range(0, 11)
MAX_QUESTIONS = 20
MAX_OPTIONS = 8
MAX_TEXT_ANSWER = 1000
MAX_TITLE = 128
MAX_QUESTION = 300
MAX_OPTION = 40
ONCE = "once"


class AnswerInvalid(DomainError):
    code = "survey_answer_invalid"


class SurveyDefinitionInvalid(DomainError):
    """`details`: line (1-based, 0 for the whole text) and reason (a stable code)."""

    code = "survey_definition_invalid"


def validate_score(kind: str, score: int) -> int:
    scale = RATING_SCALE if kind == "rating" else NPS_SCALE if kind == "nps" else None
    if scale is None or score not in scale:
        raise AnswerInvalid(kind=kind)
    return score


def validate_choice(choice: int, option_count: int) -> int:
    if not 0 <= choice < option_count:
        raise AnswerInvalid(kind="choice")
    return choice


def validate_text(text: str) -> str:
    """Free text is stored as sent (escaped whenever shown); only emptiness and length are refused."""
    if not text.strip() or len(text) > MAX_TEXT_ANSWER:
        raise AnswerInvalid(kind="text")
    return text


def survey_period(recurrence: str, now: datetime, tz: ZoneInfo) -> str:
    """"once" for one-off surveys; the local month ("2026-03") for monthly ones."""
    if recurrence == "monthly":
        local = now.astimezone(tz)
        return f"{local.year:04d}-{local.month:02d}"
    return ONCE


@dataclass(frozen=True, slots=True)
class Bilingual:
    en: str
    ms: str

    def get(self, language: str) -> str:
        return self.ms if language == "ms" else self.en


@dataclass(frozen=True, slots=True)
class QuestionDraft:
    kind: str
    text: Bilingual
    optional: bool = False
    options: tuple[Bilingual, ...] = ()


@dataclass(frozen=True, slots=True)
class SurveyDraft:
    title: Bilingual
    questions: tuple[QuestionDraft, ...]
    reward_points: int = 0
    days: int | None = None  # open for this many days from creation; None = until closed
    audience: str = "all"  # "all" | "recent" | "tier"
    recent_days: int = 30
    recurrence: str = ONCE  # "once" | "monthly"
    tier: str | None = None  # the tier code, for audience "tier"


@dataclass
class _Builder:
    title: Bilingual | None = None
    reward: int = 0
    days: int | None = None
    audience: str = "all"
    recent_days: int = 30
    tier: str | None = None
    recurrence: str = ONCE
    questions: list[QuestionDraft] = field(default_factory=list)


_TIER_CODE = re.compile(r"^[a-z][a-z0-9_]{0,15}$")


def _bilingual(value: str, line: int, limit: int) -> Bilingual:
    parts = [part.strip() for part in value.split("|")]
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise SurveyDefinitionInvalid(line=line, reason="needs_both_languages")
    if max(len(parts[0]), len(parts[1])) > limit:
        raise SurveyDefinitionInvalid(line=line, reason="too_long")
    return Bilingual(parts[0], parts[1])


def _number(value: str, line: int, low: int, high: int) -> int:
    if not value.strip().isdigit() or not low <= int(value) <= high:
        raise SurveyDefinitionInvalid(line=line, reason="bad_number", low=low, high=high)
    return int(value)


def parse_survey_definition(text: str, *, max_reward: int, tiers: Sequence[str] = ()) -> SurveyDraft:
    """Read the owner's survey definition, one `key: value` a line; English | Malay for texts.

        title: Coffee check | Semakan kopi
        reward: 10                 (points for completing; optional, default 0)
        days: 30                   (open this many days; optional, default until closed)
        audience: all              (or "recent 30": customers with a visit in 30 days;
                                    or "tier silver": customers in that tier, one of `tiers`)
        repeat: monthly            (or "once", the default)
        rating: How was your coffee? | Bagaimana kopi anda?
        nps: Would you recommend us? | Adakah anda akan mengesyorkan kami?
        choice: Favourite drink? | Minuman kegemaran?
        - Latte | Latte
        - Iced tea | Teh ais
        text?: Anything else? | Ada apa-apa lagi?      ("?" after the kind: optional)
    """
    builder = _Builder()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            if not builder.questions or builder.questions[-1].kind != "choice":
                raise SurveyDefinitionInvalid(line=number, reason="option_without_choice")
            last = builder.questions[-1]
            if len(last.options) >= MAX_OPTIONS:
                raise SurveyDefinitionInvalid(line=number, reason="too_many_options", limit=MAX_OPTIONS)
            option = _bilingual(line[1:], number, MAX_OPTION)
            builder.questions[-1] = QuestionDraft(last.kind, last.text, last.optional, (*last.options, option))
            continue
        key, colon, value = line.partition(":")
        if not colon:
            raise SurveyDefinitionInvalid(line=number, reason="not_key_value")
        key, value = key.strip().lower(), value.strip()
        optional = key.endswith("?")
        kind = key.rstrip("?").strip()
        if kind in KINDS:
            if len(builder.questions) >= MAX_QUESTIONS:
                raise SurveyDefinitionInvalid(line=number, reason="too_many_questions", limit=MAX_QUESTIONS)
            builder.questions.append(QuestionDraft(kind, _bilingual(value, number, MAX_QUESTION), optional))
        elif optional:
            raise SurveyDefinitionInvalid(line=number, reason="unknown_key")
        elif key == "title":
            builder.title = _bilingual(value, number, MAX_TITLE)
        elif key == "reward":
            builder.reward = _number(value, number, 0, max_reward)
        elif key == "days":
            builder.days = _number(value, number, 1, 366)
        elif key == "repeat":
            if value.lower() not in ("once", "monthly"):
                raise SurveyDefinitionInvalid(line=number, reason="bad_repeat")
            builder.recurrence = value.lower()
        elif key == "audience":
            words = value.lower().split()
            if words == ["all"]:
                builder.audience = "all"
            elif words and words[0] == "recent" and len(words) <= 2:
                builder.audience = "recent"
                builder.recent_days = _number(words[1], number, 1, 365) if len(words) == 2 else 30
            elif len(words) == 2 and words[0] == "tier":
                if not _TIER_CODE.match(words[1]) or (tiers and words[1] not in tiers):
                    raise SurveyDefinitionInvalid(line=number, reason="unknown_tier", tiers=", ".join(tiers))
                builder.audience, builder.tier = "tier", words[1]
            else:
                raise SurveyDefinitionInvalid(line=number, reason="bad_audience")
        else:
            raise SurveyDefinitionInvalid(line=number, reason="unknown_key")
    if builder.title is None:
        raise SurveyDefinitionInvalid(line=0, reason="no_title")
    if not builder.questions:
        raise SurveyDefinitionInvalid(line=0, reason="no_questions")
    if all(question.optional for question in builder.questions):
        raise SurveyDefinitionInvalid(line=0, reason="all_optional")
    for question in builder.questions:
        if question.kind == "choice" and len(question.options) < 2:
            raise SurveyDefinitionInvalid(line=0, reason="choice_needs_options")
    return SurveyDraft(
        title=builder.title,
        questions=tuple(builder.questions),
        reward_points=builder.reward,
        days=builder.days,
        audience=builder.audience,
        recent_days=builder.recent_days,
        recurrence=builder.recurrence,
        tier=builder.tier,
    )
