"""Pure rules of the dashboard and surveys: metric formulas, months, answer scales, the parser."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from loyaltybot.domain import metrics as m
from loyaltybot.domain.surveys import (
    AnswerInvalid,
    SurveyDefinitionInvalid,
    parse_survey_definition,
    survey_period,
    validate_choice,
    validate_score,
    validate_text,
)

KL = ZoneInfo("Asia/Kuala_Lumpur")


def test_nps_by_hand() -> None:
    # 10, 9 promoters; 8, 7 passive; 6, 0 detractors: (2 - 2) / 6 = 0.
    assert m.nps([10, 9, 8, 7, 6, 0]) == 0
    # 10, 10, 9 promoters, 3 detractor: (3 - 1) / 4 * 100 = 50.
    assert m.nps([10, 10, 9, 3]) == 50
    assert m.nps([]) is None
    assert m.nps([0]) == -100


def test_csat_by_hand() -> None:
    assert m.csat([5, 4, 3, 2]) == 0.5  # two of four are 4-5
    assert m.csat([]) is None


def test_rates_by_hand() -> None:
    assert m.retention_rate(active_previous=4, retained=3) == 0.75
    assert m.retention_rate(0, 0) is None
    assert m.churn_rate(ever_visited=10, lapsed=2) == 0.2
    assert m.repeat_visit_rate(active=5, repeaters=1) == 0.2
    assert m.average_visits(visits=9, active=6) == 1.5
    assert m.redemption_rate(issued=200, redeemed=50) == 0.25


def test_trend_arrows() -> None:
    assert m.trend(2, 1) == "▲"
    assert m.trend(1, 2) == "▼"
    assert m.trend(1, 1) == "▶"
    assert m.trend(None, 1) == "" and m.trend(1, None) == ""


def test_local_months_have_utc_boundaries() -> None:
    months = m.months_ending_at(datetime(2026, 1, 10, tzinfo=UTC), KL, 3)
    assert [x.label for x in months] == ["2025-11", "2025-12", "2026-01"]
    # Local midnight on the 1st in Kuala Lumpur (UTC+8) is 16:00 UTC the day before.
    assert months[-1].start == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)
    assert months[-1].end == datetime(2026, 1, 31, 16, 0, tzinfo=UTC)
    assert months[0].end == months[1].start
    # 31 Jan 17:00 UTC is already February in Kuala Lumpur.
    assert m.months_ending_at(datetime(2026, 1, 31, 17, 0, tzinfo=UTC), KL, 1)[0].label == "2026-02"


def test_survey_periods() -> None:
    assert survey_period("once", datetime(2026, 3, 31, 16, 0, tzinfo=UTC), KL) == "once"
    assert survey_period("monthly", datetime(2026, 3, 31, 15, 59, tzinfo=UTC), KL) == "2026-03"
    assert survey_period("monthly", datetime(2026, 3, 31, 16, 0, tzinfo=UTC), KL) == "2026-04"


def test_answer_scales() -> None:
    assert validate_score("rating", 1) == 1 and validate_score("rating", 5) == 5
    assert validate_score("nps", 0) == 0 and validate_score("nps", 10) == 10
    for kind, score in (("rating", 0), ("rating", 6), ("nps", -1), ("nps", 11), ("text", 3)):
        with pytest.raises(AnswerInvalid):
            validate_score(kind, score)
    assert validate_choice(1, 2) == 1
    with pytest.raises(AnswerInvalid):
        validate_choice(2, 2)
    assert validate_text("<b>as sent</b>") == "<b>as sent</b>"
    with pytest.raises(AnswerInvalid):
        validate_text(" ")


def test_parse_full_definition() -> None:
    draft = parse_survey_definition(
        """# a comment
        title: Coffee | Kopi
        reward: 15
        days: 14
        audience: recent 45
        repeat: Monthly
        rating: Taste? | Rasa?
        nps?: Recommend? | Syor?
        choice: Size? | Saiz?
        - Small | Kecil
        - Large | Besar
        text?: More? | Lagi?
        """,
        max_reward=100,
    )
    assert draft.title.get("ms") == "Kopi"
    assert (draft.reward_points, draft.days, draft.audience, draft.recent_days, draft.recurrence) == (
        15, 14, "recent", 45, "monthly",
    )
    assert [(q.kind, q.optional) for q in draft.questions] == [
        ("rating", False), ("nps", True), ("choice", False), ("text", True),
    ]
    assert [o.en for o in draft.questions[2].options] == ["Small", "Large"]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("title: Only English\nrating: A | B", 1, "needs_both_languages"),
        ("title: A | B\nreward: 5000\nrating: A | B", 2, "bad_number"),
        ("title: A | B\n- x | y", 2, "option_without_choice"),
        ("title: A | B\ncolour: red", 2, "unknown_key"),
        ("title: A | B\nrepeat: weekly\nrating: A | B", 2, "bad_repeat"),
        ("title: A | B\naudience: vip\nrating: A | B", 2, "bad_audience"),
        ("title: A | B\njust words", 2, "not_key_value"),
        ("title: A | B\naudience: tier platinum\nrating: A | B", 2, "unknown_tier"),
        ("title: A | B\naudience: tier\nrating: A | B", 2, "bad_audience"),
        ("rating: A | B", 0, "no_title"),
        ("title: A | B", 0, "no_questions"),
        ("title: A | B\ntext?: A | B", 0, "all_optional"),
        ("title: A | B\nchoice: A | B\n- x | y", 0, "choice_needs_options"),
    ],
)
def test_parse_errors_name_the_line_and_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(SurveyDefinitionInvalid) as caught:
        parse_survey_definition(text, max_reward=1000, tiers=("bronze", "silver", "gold"))
    assert caught.value.details["line"] == line
    assert caught.value.details["reason"] == reason


def test_tier_audience_is_parsed() -> None:
    draft = parse_survey_definition(
        "title: A | B\naudience: Tier Silver\nrating: A | B", max_reward=10, tiers=("bronze", "silver")
    )
    assert (draft.audience, draft.tier) == ("tier", "silver")
    assert parse_survey_definition("title: A | B\nrating: A | B", max_reward=10).tier is None


def test_feedback_program_section(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from loyaltybot.config import ConfigError, Program, load_program

    assert Program().feedback.churn_window_days == 60
    assert Program().feedback.suggestion_bonus_points == 20
    path = tmp_path / "program.toml"
    path.write_text("[feedback]\nchurn_window_days = 90\nsuggestion_bonus_points = 0\n")
    program = load_program(path)
    assert (program.feedback.churn_window_days, program.feedback.suggestion_bonus_points) == (90, 0)
    path.write_text("[feedback]\nchurn_window_days = 1\n")
    with pytest.raises(ConfigError, match="feedback.churn_window_days"):
        load_program(path)
    path.write_text("[feedback]\nchurn_days = 30\n")
    with pytest.raises(ConfigError, match="feedback.churn_days: unknown key"):
        load_program(path)


def test_long_owner_screens_are_cut_at_whole_lines() -> None:
    from loyaltybot.bot.feedback_texts import MESSAGE_BUDGET, fit_message

    lines = [f"<b>{i}</b> " + "x" * 290 for i in range(40)]
    text = fit_message(lines)
    assert len(text) <= MESSAGE_BUDGET + 2 and text.endswith("\n…")
    assert all(line in lines for line in text.split("\n")[:-1])
    assert fit_message(["a", "b"]) == "a\nb"
