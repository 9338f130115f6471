"""Repositories for surveys and the suggestion box. They flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from loyaltybot.db.segments import tier_filter
from loyaltybot.db.models import Customer, Suggestion, Survey, SurveyAnswer, SurveyQuestion, SurveyResponse
from loyaltybot.db.upsert import dialect_insert, insert_or_ignore


class SurveyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def answers_of_customer(self, customer_id: int) -> Sequence[tuple[SurveyAnswer, SurveyResponse]]:
        return (
            await self.session.execute(
                select(SurveyAnswer, SurveyResponse)
                .join(SurveyResponse, SurveyAnswer.response_id == SurveyResponse.id)
                .where(SurveyResponse.customer_id == customer_id)
                .order_by(SurveyAnswer.id)
            )
        ).all()  # type: ignore[return-value]

    async def erase_texts_of(self, customer_id: int) -> None:
        """Free-text answers may hold personal data: erased when the customer deletes the account."""
        responses = select(SurveyResponse.id).where(SurveyResponse.customer_id == customer_id)
        await self.session.execute(
            update(SurveyAnswer).where(SurveyAnswer.response_id.in_(responses)).values(text=None)
        )

    async def add(self, survey: Survey, questions: Sequence[SurveyQuestion]) -> Survey:
        self.session.add(survey)
        await self.session.flush()
        for question in questions:
            question.survey_id = survey.id
            self.session.add(question)
        await self.session.flush()
        return survey

    async def get(self, survey_id: int) -> Survey | None:
        return await self.session.get(Survey, survey_id)

    async def questions(self, survey_id: int) -> Sequence[SurveyQuestion]:
        return (
            (
                await self.session.execute(
                    select(SurveyQuestion).where(SurveyQuestion.survey_id == survey_id).order_by(SurveyQuestion.position)
                )
            )
            .scalars()
            .all()
        )

    async def all_newest_first(self, limit: int) -> Sequence[tuple[Survey, int]]:
        """Surveys with their number of completed responses."""
        completed = (
            select(func.count())
            .where(SurveyResponse.survey_id == Survey.id, SurveyResponse.completed_at.is_not(None))
            .scalar_subquery()
        )
        rows = (await self.session.execute(select(Survey, completed).order_by(Survey.id.desc()).limit(limit))).all()
        return [(row[0], int(row[1])) for row in rows]

    async def open_surveys(self, now: datetime) -> Sequence[Survey]:
        return (
            (
                await self.session.execute(
                    select(Survey)
                    .where(
                        Survey.closed_at.is_(None),
                        Survey.starts_at <= now,
                        or_(Survey.ends_at.is_(None), Survey.ends_at > now),
                    )
                    .order_by(Survey.id)
                )
            )
            .scalars()
            .all()
        )

    async def close(self, survey_id: int, now: datetime) -> bool:
        result = await self.session.execute(
            update(Survey).where(Survey.id == survey_id, Survey.closed_at.is_(None)).values(closed_at=now)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def responses_of(self, customer_id: int, survey_ids: Sequence[int], periods: Sequence[str]) -> dict[int, SurveyResponse]:
        if not survey_ids:
            return {}
        rows = (
            (
                await self.session.execute(
                    select(SurveyResponse).where(
                        SurveyResponse.customer_id == customer_id,
                        SurveyResponse.survey_id.in_(survey_ids),
                        SurveyResponse.period.in_(periods),
                    )
                )
            )
            .scalars()
            .all()
        )
        return {row.survey_id: row for row in rows}

    async def response(self, survey_id: int, customer_id: int, period: str) -> SurveyResponse | None:
        return (
            await self.session.execute(
                select(SurveyResponse).where(
                    SurveyResponse.survey_id == survey_id,
                    SurveyResponse.customer_id == customer_id,
                    SurveyResponse.period == period,
                )
            )
        ).scalar_one_or_none()

    async def start_response(self, survey_id: int, customer_id: int, period: str, now: datetime) -> SurveyResponse:
        """The customer's response for the period, created once whatever the concurrency."""
        await insert_or_ignore(
            self.session,
            SurveyResponse.__table__,  # type: ignore[arg-type]
            {"survey_id": survey_id, "customer_id": customer_id, "period": period, "started_at": now},
            keys=["survey_id", "customer_id", "period"],
        )
        response = await self.response(survey_id, customer_id, period)
        assert response is not None
        return response

    async def answered_question_ids(self, response_id: int) -> set[int]:
        rows = await self.session.execute(select(SurveyAnswer.question_id).where(SurveyAnswer.response_id == response_id))
        return {row[0] for row in rows}

    async def add_answer(self, answer: SurveyAnswer) -> bool:
        """Store an answer unless this question already has one in the response."""
        values = {
            "response_id": answer.response_id,
            "question_id": answer.question_id,
            "kind": answer.kind,
            "score": answer.score,
            "choice": answer.choice,
            "text": answer.text,
            "answered_at": answer.answered_at,
        }
        result = await self.session.execute(_insert_ignore(self.session, values))
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def complete(self, response_id: int, now: datetime) -> bool:
        """Mark complete once: only one caller moves completed_at from NULL."""
        result = await self.session.execute(
            update(SurveyResponse)
            .where(SurveyResponse.id == response_id, SurveyResponse.completed_at.is_(None))
            .values(completed_at=now)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def answers_for_survey(self, survey_id: int) -> Sequence[tuple[SurveyAnswer, SurveyResponse]]:
        rows = await self.session.execute(
            select(SurveyAnswer, SurveyResponse)
            .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
            .where(SurveyResponse.survey_id == survey_id)
            .order_by(SurveyAnswer.answered_at, SurveyAnswer.id)
        )
        return [(row[0], row[1]) for row in rows]

    async def response_counts(self, survey_id: int) -> tuple[int, int]:
        """(started, completed) responses."""
        row = (
            await self.session.execute(
                select(func.count(), func.count(SurveyResponse.completed_at)).where(SurveyResponse.survey_id == survey_id)
            )
        ).one()
        return int(row[0]), int(row[1])

    async def question_stats(self, survey_id: int) -> dict[int, dict[str, Any]]:
        """Per question: answers, average score, and counts per score / choice (SQL aggregates)."""
        rows = await self.session.execute(
            select(SurveyAnswer.question_id, SurveyAnswer.score, SurveyAnswer.choice, func.count())
            .join(SurveyQuestion, SurveyQuestion.id == SurveyAnswer.question_id)
            .where(SurveyQuestion.survey_id == survey_id, SurveyAnswer.kind != "text")
            .group_by(SurveyAnswer.question_id, SurveyAnswer.score, SurveyAnswer.choice)
        )
        stats: dict[int, dict[str, Any]] = {}
        for question_id, score, choice, count in rows:
            entry = stats.setdefault(question_id, {"scores": {}, "choices": {}})
            if score is not None:
                entry["scores"][int(score)] = int(count)
            if choice is not None:
                entry["choices"][int(choice)] = int(count)
        return stats

    async def latest_texts(self, survey_id: int, limit: int) -> Sequence[tuple[int, str]]:
        rows = await self.session.execute(
            select(SurveyAnswer.question_id, SurveyAnswer.text)
            .join(SurveyQuestion, SurveyQuestion.id == SurveyAnswer.question_id)
            .where(SurveyQuestion.survey_id == survey_id, SurveyAnswer.kind == "text", SurveyAnswer.text.is_not(None))
            .order_by(SurveyAnswer.answered_at.desc(), SurveyAnswer.id.desc())
            .limit(limit)
        )
        return [(int(row[0]), str(row[1])) for row in rows]


def invitee_conditions(
    survey: Survey, period: str, now: datetime, *, tiers: Sequence[str] = ()
) -> list[ColumnElement[bool]]:
    """WHERE clauses on `customers` for who should be invited to `survey` for `period`:
    reachable customers who opted in to marketing messages (an invitation to earn points is
    one), in the survey's audience (`tiers`: the program's tier codes, lowest first, for a tier
    audience), who have not completed it for the period."""
    completed = exists().where(
        SurveyResponse.survey_id == survey.id,
        SurveyResponse.customer_id == Customer.id,
        SurveyResponse.period == period,
        SurveyResponse.completed_at.is_not(None),
    )
    conditions: list[ColumnElement[bool]] = [
        Customer.status == "active",
        Customer.telegram_id.is_not(None),
        Customer.marketing_opt_in.is_(True),
        ~completed,
    ]
    if survey.audience == "recent":
        conditions.append(Customer.last_visit_at >= now - timedelta(days=survey.recent_days))
    elif survey.audience == "tier" and survey.tier is not None:
        conditions.append(tier_filter(survey.tier, tiers))
    return conditions


def invitees_query(
    survey: Survey, period: str, now: datetime, *, tiers: Sequence[str] = ()
) -> Select[tuple[int, int]]:
    """The invitees (see `invitee_conditions`) as one set-based SELECT of (customer id,
    telegram id). The outbox queues the same set with one INSERT … SELECT; deduplication of
    the invitation itself is its unique key per campaign × customer."""
    conditions = invitee_conditions(survey, period, now, tiers=tiers)
    return select(Customer.id, Customer.telegram_id).where(and_(*conditions)).order_by(Customer.id)  # type: ignore[return-value]


def _insert_ignore(session: AsyncSession, values: dict[str, Any]) -> Any:
    return dialect_insert(session, SurveyAnswer.__table__).values(**values).on_conflict_do_nothing(
        index_elements=["response_id", "question_id"]
    )


class SuggestionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all_for_customer(self, customer_id: int) -> Sequence[Suggestion]:
        return (
            (await self.session.execute(select(Suggestion).where(Suggestion.customer_id == customer_id).order_by(Suggestion.id)))
            .scalars()
            .all()
        )

    async def erase_texts_of(self, customer_id: int) -> None:
        """Suggestions may hold personal data: emptied when the customer deletes the account."""
        await self.session.execute(update(Suggestion).where(Suggestion.customer_id == customer_id).values(text=""))

    async def add(self, suggestion: Suggestion) -> Suggestion:
        self.session.add(suggestion)
        await self.session.flush()
        return suggestion

    async def get(self, suggestion_id: int) -> Suggestion | None:
        return await self.session.get(Suggestion, suggestion_id)

    async def count_since(self, customer_id: int, since: datetime) -> int:
        return int(
            (
                await self.session.execute(
                    select(func.count()).where(Suggestion.customer_id == customer_id, Suggestion.created_at >= since)
                )
            ).scalar_one()
        )

    async def newest(self, limit: int) -> Sequence[tuple[Suggestion, str | None]]:
        rows = await self.session.execute(
            select(Suggestion, Customer.first_name)
            .join(Customer, Customer.id == Suggestion.customer_id)
            .order_by(Suggestion.created_at.desc(), Suggestion.id.desc())
            .limit(limit)
        )
        return [(row[0], row[1]) for row in rows]

    async def adopt(self, suggestion_id: int, *, by: int, now: datetime) -> bool:
        result = await self.session.execute(
            update(Suggestion)
            .where(Suggestion.id == suggestion_id, Suggestion.status == "new")
            .values(status="adopted", adopted_at=now, adopted_by=by)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]
