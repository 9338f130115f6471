"""Survey use cases: the owner creates, closes and reads results; customers answer and,
on completing once per period, are credited the reward through the ledger, once."""

from __future__ import annotations

import csv
import io
import json
from html import escape
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from loyaltybot.config import Program
from loyaltybot.db.feedback import invitee_conditions, invitees_query
from loyaltybot.db.models import Campaign, Customer, Survey, SurveyAnswer, SurveyQuestion
from loyaltybot.db.uow import UnitOfWork, UnitOfWorkFactory
from loyaltybot.domain import metrics
from loyaltybot.domain.surveys import (
    Bilingual,
    SurveyDraft,
    parse_survey_definition,
    survey_period,
    validate_choice,
    validate_score,
    validate_text,
)
from loyaltybot.services.clock import Clock
from loyaltybot.services.errors import NotRegistered
from loyaltybot.services.pointsbook import award_points
from loyaltybot.services.feedback_errors import (
    QuestionAlreadyAnswered,
    QuestionNotOptional,
    SurveyAlreadyCompleted,
    SurveyNotFound,
    SurveyNotOpen,
)
from loyaltybot.services.staff import StaffService


@dataclass(frozen=True, slots=True)
class SurveyOffer:
    survey_id: int
    title: str
    reward_points: int
    answered: int
    total: int


@dataclass(frozen=True, slots=True)
class QuestionView:
    survey_id: int
    question_id: int
    title: str
    number: int  # 1-based
    total: int
    kind: str
    text: str
    options: tuple[str, ...]
    optional: bool


@dataclass(frozen=True, slots=True)
class Completion:
    survey_id: int
    title: str
    points: int  # credited now (0 if the survey has no reward)
    balance: int


@dataclass(frozen=True, slots=True)
class SurveySummary:
    survey_id: int
    title: str
    open: bool
    completed: int
    reward_points: int
    recurrence: str
    audience: str
    ends_at: datetime | None
    tier: str | None = None


@dataclass(frozen=True, slots=True)
class QuestionResult:
    number: int
    kind: str
    text: str
    answers: int
    average: float | None
    csat: float | None
    nps: float | None
    choices: tuple[tuple[str, int], ...]
    texts: tuple[str, ...]  # newest first, as sent (escape when shown)


@dataclass(frozen=True, slots=True)
class SurveyResults:
    summary: SurveySummary
    started: int
    completed: int
    questions: tuple[QuestionResult, ...]
    invited: int = 0  # invitations queued through the outbox, every period
    invitations_sent: int = 0  # … of which Telegram accepted


def _options(question: SurveyQuestion) -> list[Bilingual]:
    return [Bilingual(o["en"], o["ms"]) for o in json.loads(question.options or "[]")]


def _title(survey: Survey, language: str) -> str:
    return survey.title_ms if language == "ms" else survey.title_en


def _is_open(survey: Survey, now: datetime) -> bool:
    return survey.closed_at is None and survey.starts_at <= now and (survey.ends_at is None or survey.ends_at > now)


def _in_audience(survey: Survey, customer: Customer, now: datetime, program: Program) -> bool:
    if survey.audience == "recent":
        return customer.last_visit_at is not None and customer.last_visit_at >= now - timedelta(days=survey.recent_days)
    if survey.audience == "tier":
        # The customer's tier as the program reads it: NULL or a retired code is the first tier.
        return program.tiers.level(customer.tier).code == survey.tier
    return True


class SurveyService:
    TEXTS_SHOWN = 10

    def __init__(
        self,
        *,
        writer: UnitOfWorkFactory,
        reader: UnitOfWorkFactory,
        staff: StaffService,
        program: Program,
        clock: Clock,
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._staff = staff
        self._program = program
        self._clock = clock

    def _tier_codes(self) -> list[str]:
        return [level.code for level in self._program.tiers.levels]

    def _period(self, survey: Survey, now: datetime) -> str:
        return survey_period(survey.recurrence, now, self._program.shop.tz)

    # ------------------------------------------------------------------ owner
    def parse(self, text: str) -> SurveyDraft:
        return parse_survey_definition(
            text,
            max_reward=self._program.feedback.max_survey_reward_points,
            tiers=[level.code for level in self._program.tiers.levels],
        )

    async def create(self, actor: int, draft: SurveyDraft) -> int:
        await self._staff.require_owner(actor)
        now = self._clock()
        async with self._writer() as uow:
            survey = Survey(
                title_en=draft.title.en,
                title_ms=draft.title.ms,
                reward_points=draft.reward_points,
                audience=draft.audience,
                recent_days=draft.recent_days,
                tier=draft.tier,
                recurrence=draft.recurrence,
                starts_at=now,
                ends_at=now + timedelta(days=draft.days) if draft.days else None,
                created_by=actor,
                created_at=now,
            )
            questions = [
                SurveyQuestion(
                    position=index,
                    kind=q.kind,
                    text_en=q.text.en,
                    text_ms=q.text.ms,
                    optional=q.optional,
                    options=json.dumps([{"en": o.en, "ms": o.ms} for o in q.options], ensure_ascii=False)
                    if q.options
                    else None,
                )
                for index, q in enumerate(draft.questions)
            ]
            await uow.surveys.add(survey, questions)
            invited = await self._invite_in(uow, survey, now)
            await uow.audit.record(
                actor=actor, action="survey.created", now=now, details={"survey": survey.id, "invited": invited or 0}
            )
            await uow.commit()
            return survey.id

    # ------------------------------------------------------------------ invitations
    async def _invite_in(self, uow: UnitOfWork, survey: Survey, now: datetime) -> int | None:
        """Queue the survey's invitations for its current period inside the caller's
        transaction: one campaign keyed `survey:<id>:<period>` and one INSERT … SELECT of the
        invitees into its deliveries. None if this period's campaign already exists.

        An invitation to earn points for feedback is marketing: the campaign is promotional,
        so it reaches only customers who opted in and carries the one-tap opt-out."""
        period = self._period(survey, now)
        key = f"survey:{survey.id}:{period}"
        if await uow.outbox.campaign_by_key(key) is not None:
            return None
        campaign = await uow.outbox.add_campaign(
            Campaign(
                key=key,
                kind="survey",
                promotional=True,
                status="sending",
                audience="survey",
                text_en=escape(survey.title_en),
                text_ms=escape(survey.title_ms),
                button_kind="survey",
                survey_id=survey.id,
                created_by=survey.created_by,
                created_at=now,
                started_at=now,
                total=0,
            )
        )
        where = invitee_conditions(survey, period, now, tiers=self._tier_codes())
        queued = await uow.outbox.enqueue(campaign.id, where, now)
        campaign.total = queued
        if queued == 0:
            campaign.status, campaign.finished_at = "done", now
        return queued

    async def invite_due_surveys(self, now: datetime | None = None) -> int:
        """The periodic job: every open monthly survey whose current month has no invitation
        campaign yet gets one. Idempotent (the campaign key): a rerun queues nothing.
        Returns how many invitations were queued."""
        now = now or self._clock()
        async with self._reader() as uow:
            due = [survey.id for survey in await uow.surveys.open_surveys(now) if survey.recurrence == "monthly"]
        queued = 0
        for survey_id in due:
            try:
                async with self._writer() as uow:
                    survey = await uow.surveys.get(survey_id)
                    if survey is None or not _is_open(survey, now):
                        continue
                    count = await self._invite_in(uow, survey, now)
                    if count is None:
                        continue
                    await uow.commit()
                    queued += count
            except IntegrityError:  # a concurrent run created this period's campaign first
                continue
        return queued

    async def close(self, actor: int, survey_id: int) -> None:
        await self._staff.require_owner(actor)
        now = self._clock()
        async with self._writer() as uow:
            if await uow.surveys.get(survey_id) is None:
                raise SurveyNotFound()
            await uow.surveys.close(survey_id, now)
            await uow.outbox.cancel_survey_invitations(survey_id, now)
            await uow.audit.record(actor=actor, action="survey.closed", now=now, details={"survey": survey_id})
            await uow.commit()

    async def list_for_owner(self, actor: int, language: str, limit: int = 10) -> list[SurveySummary]:
        await self._staff.require_owner(actor)
        now = self._clock()
        async with self._reader() as uow:
            rows = await uow.surveys.all_newest_first(limit)
        return [self._summary(survey, completed, language, now) for survey, completed in rows]

    def _summary(self, survey: Survey, completed: int, language: str, now: datetime) -> SurveySummary:
        return SurveySummary(
            survey_id=survey.id,
            title=_title(survey, language),
            open=_is_open(survey, now),
            completed=completed,
            reward_points=survey.reward_points,
            recurrence=survey.recurrence,
            audience=survey.audience,
            ends_at=survey.ends_at,
            tier=survey.tier,
        )

    async def results(self, actor: int, survey_id: int, language: str) -> SurveyResults:
        await self._staff.require_owner(actor)
        now = self._clock()
        async with self._reader() as uow:
            survey = await uow.surveys.get(survey_id)
            if survey is None:
                raise SurveyNotFound()
            questions = await uow.surveys.questions(survey_id)
            started, completed = await uow.surveys.response_counts(survey_id)
            stats = await uow.surveys.question_stats(survey_id)
            texts = await uow.surveys.latest_texts(survey_id, self.TEXTS_SHOWN * max(1, len(questions)))
            invited, invitations_sent = await uow.outbox.survey_invitations(survey_id)
        results = []
        for question in questions:
            entry = stats.get(question.id, {"scores": {}, "choices": {}})
            scores: dict[int, int] = entry["scores"]
            total_scored = sum(scores.values())
            answers = total_scored
            average = sum(s * n for s, n in scores.items()) / total_scored if total_scored else None
            choices: tuple[tuple[str, int], ...] = ()
            own_texts: tuple[str, ...] = ()
            if question.kind == "choice":
                counts: dict[int, int] = entry["choices"]
                choices = tuple((o.get(language), counts.get(i, 0)) for i, o in enumerate(_options(question)))
                answers = sum(counts.values())
            if question.kind == "text":
                own_texts = tuple(t for qid, t in texts if qid == question.id)[: self.TEXTS_SHOWN]
                answers = len(own_texts)
            results.append(
                QuestionResult(
                    number=question.position + 1,
                    kind=question.kind,
                    text=question.text_ms if language == "ms" else question.text_en,
                    answers=answers,
                    average=average if question.kind in ("rating", "nps") else None,
                    csat=metrics.csat_from_counts(sum(n for s, n in scores.items() if s >= 4), total_scored)
                    if question.kind == "rating"
                    else None,
                    nps=metrics.nps_from_counts(
                        sum(n for s, n in scores.items() if s >= 9),
                        sum(n for s, n in scores.items() if s <= 6),
                        total_scored,
                    )
                    if question.kind == "nps"
                    else None,
                    choices=choices,
                    texts=own_texts,
                )
            )
        return SurveyResults(
            self._summary(survey, completed, language, now),
            started,
            completed,
            tuple(results),
            invited=invited,
            invitations_sent=invitations_sent,
        )

    async def results_csv(self, actor: int, survey_id: int) -> bytes:
        """Every answer, one row each; customers by internal id only (no personal data)."""
        await self._staff.require_owner(actor)
        async with self._reader() as uow:
            survey = await uow.surveys.get(survey_id)
            if survey is None:
                raise SurveyNotFound()
            questions = {q.id: q for q in await uow.surveys.questions(survey_id)}
            rows = await uow.surveys.answers_for_survey(survey_id)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["response", "customer", "period", "completed", "question", "kind", "skipped", "score", "choice", "text", "answered_at"])
        for answer, response in rows:
            question = questions[answer.question_id]
            options = _options(question)
            writer.writerow(
                [
                    response.id,
                    response.customer_id,
                    response.period,
                    "yes" if response.completed_at else "no",
                    question.position + 1,
                    answer.kind,
                    "yes" if answer.score is None and answer.choice is None and answer.text is None else "no",
                    "" if answer.score is None else answer.score,
                    "" if answer.choice is None else options[answer.choice].en,
                    answer.text or "",
                    answer.answered_at.isoformat(),
                ]
            )
        return out.getvalue().encode("utf-8")

    async def invitees(self, survey_id: int) -> list[tuple[int, int]]:
        """(customer id, telegram id) of everyone to invite to the survey for the current period.

        For the outbox (issue 5): `invitees_query(survey, period, now)` is the same set as a
        SELECT, to be used in an INSERT ... SELECT into `deliveries`.
        """
        now = self._clock()
        async with self._reader() as uow:
            survey = await uow.surveys.get(survey_id)
            if survey is None:
                raise SurveyNotFound()
            if not _is_open(survey, now):
                return []
            rows = await uow.session.execute(
                invitees_query(survey, self._period(survey, now), now, tiers=self._tier_codes())
            )
            return [(int(r[0]), int(r[1])) for r in rows]

    # ------------------------------------------------------------------ customer
    async def _customer(self, uow: UnitOfWork, telegram_id: int) -> Customer:
        customer = await uow.customers.by_telegram_id(telegram_id)
        if customer is None or customer.status == "deleted":
            raise NotRegistered()
        return customer

    async def available(self, telegram_id: int, language: str) -> list[SurveyOffer]:
        """Open surveys for this customer that they have not completed for the current period."""
        now = self._clock()
        async with self._reader() as uow:
            customer = await self._customer(uow, telegram_id)
            surveys = [s for s in await uow.surveys.open_surveys(now) if _in_audience(s, customer, now, self._program)]
            periods = sorted({self._period(s, now) for s in surveys})
            responses = await uow.surveys.responses_of(customer.id, [s.id for s in surveys], periods)
            offers = []
            for survey in surveys:
                response = responses.get(survey.id)
                if response is not None and response.period != self._period(survey, now):
                    response = None
                if response is not None and response.completed_at is not None:
                    continue
                total = len(await uow.surveys.questions(survey.id))
                answered = len(await uow.surveys.answered_question_ids(response.id)) if response else 0
                offers.append(SurveyOffer(survey.id, _title(survey, language), survey.reward_points, answered, total))
        return offers

    async def _open_for(self, uow: UnitOfWork, survey_id: int, customer: Customer, now: datetime) -> Survey:
        survey = await uow.surveys.get(survey_id)
        if survey is None:
            raise SurveyNotFound()
        if not _is_open(survey, now) or not _in_audience(survey, customer, now, self._program):
            raise SurveyNotOpen()
        return survey

    def _view(
        self, survey: Survey, questions: list[SurveyQuestion], answered: set[int], language: str
    ) -> QuestionView | None:
        for index, question in enumerate(questions):
            if question.id not in answered:
                return QuestionView(
                    survey_id=survey.id,
                    question_id=question.id,
                    title=_title(survey, language),
                    number=index + 1,
                    total=len(questions),
                    kind=question.kind,
                    text=question.text_ms if language == "ms" else question.text_en,
                    options=tuple(o.get(language) for o in _options(question)),
                    optional=question.optional,
                )
        return None

    async def current_question(self, telegram_id: int, survey_id: int, language: str) -> QuestionView:
        """Start the survey, or resume it at the first unanswered question."""
        now = self._clock()
        async with self._writer() as uow:
            customer = await self._customer(uow, telegram_id)
            survey = await self._open_for(uow, survey_id, customer, now)
            response = await uow.surveys.start_response(survey.id, customer.id, self._period(survey, now), now)
            if response.completed_at is not None:
                raise SurveyAlreadyCompleted()
            questions = list(await uow.surveys.questions(survey.id))
            answered = await uow.surveys.answered_question_ids(response.id)
            view = self._view(survey, questions, answered, language)
            await uow.commit()
        if view is None:  # every question answered but not completed: cannot happen, completion is atomic
            raise SurveyAlreadyCompleted()
        return view

    async def answer(
        self,
        telegram_id: int,
        survey_id: int,
        question_id: int,
        language: str,
        *,
        score: int | None = None,
        choice: int | None = None,
        text: str | None = None,
        skip: bool = False,
    ) -> QuestionView | Completion:
        """Record one answer (validated); the next question, or the completion with its reward."""
        now = self._clock()
        for attempt in range(2):
            try:
                return await self._answer(
                    telegram_id, survey_id, question_id, language, now, score=score, choice=choice, text=text, skip=skip
                )
            except IntegrityError:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _answer(
        self,
        telegram_id: int,
        survey_id: int,
        question_id: int,
        language: str,
        now: datetime,
        *,
        score: int | None,
        choice: int | None,
        text: str | None,
        skip: bool,
    ) -> QuestionView | Completion:
        async with self._writer() as uow:
            customer = await self._customer(uow, telegram_id)
            survey = await self._open_for(uow, survey_id, customer, now)
            period = self._period(survey, now)
            response = await uow.surveys.response(survey.id, customer.id, period)
            if response is None:
                response = await uow.surveys.start_response(survey.id, customer.id, period, now)
            if response.completed_at is not None:
                raise SurveyAlreadyCompleted()
            questions = list(await uow.surveys.questions(survey.id))
            answered = await uow.surveys.answered_question_ids(response.id)
            current = self._view(survey, questions, answered, language)
            if current is None or current.question_id != question_id:
                raise QuestionAlreadyAnswered()
            question = next(q for q in questions if q.id == question_id)
            row = SurveyAnswer(response_id=response.id, question_id=question.id, kind=question.kind, answered_at=now)
            if skip:
                if not question.optional:
                    raise QuestionNotOptional()
            elif question.kind in ("rating", "nps"):
                row.score = validate_score(question.kind, -1 if score is None else score)
            elif question.kind == "choice":
                row.choice = validate_choice(-1 if choice is None else choice, len(_options(question)))
            else:
                row.text = validate_text(text or "")
            if not await uow.surveys.add_answer(row):
                raise QuestionAlreadyAnswered()
            answered.add(question.id)
            following = self._view(survey, questions, answered, language)
            if following is not None:
                await uow.commit()
                return following
            if not await uow.surveys.complete(response.id, now):
                raise SurveyAlreadyCompleted()
            balance = customer.balance
            points = survey.reward_points
            if points > 0:
                balance = await award_points(
                    uow,
                    self._program,
                    customer.id,
                    points,
                    kind="survey",
                    key=f"survey:{survey.id}:{customer.id}:{period}",
                    note=f"survey {survey.id}",
                    now=now,
                )
            await uow.commit()
            return Completion(survey.id, _title(survey, language), points, balance)


