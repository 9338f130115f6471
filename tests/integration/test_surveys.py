"""Survey and suggestion services: validation, periods, audiences, rewards credited once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from loyaltybot.config import Program
from loyaltybot.db.engine import Database
from loyaltybot.db.models import Campaign, Customer, Delivery, LedgerEntry, SurveyAnswer
from loyaltybot.db.uow import uow_factories
from loyaltybot.domain.surveys import AnswerInvalid
from loyaltybot.services.errors import NotAllowed
from loyaltybot.services.feedback_errors import (
    QuestionAlreadyAnswered,
    QuestionNotOptional,
    SuggestionAlreadyAdopted,
    SuggestionLimit,
    SurveyAlreadyCompleted,
    SurveyNotOpen,
)
from loyaltybot.services.staff import StaffService
from loyaltybot.services.suggestions import SuggestionService
from loyaltybot.services.surveys import Completion, QuestionView, SurveyService

OWNER = 1000
DEFINITION = """title: Check | Semak
reward: 7
repeat: monthly
rating: Coffee? | Kopi?
choice: Drink? | Minuman?
- Coffee | Kopi
- Tea | Teh
text?: Else? | Lain?"""


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 15, 8, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def kit(database: Database, clock: Clock) -> Any:
    writer, reader = uow_factories(database)
    staff = StaffService(writer=writer, reader=reader, owner_ids=frozenset({OWNER}), clock=clock)
    program = Program()

    class Kit:
        db = database
        surveys = SurveyService(writer=writer, reader=reader, staff=staff, program=program, clock=clock)
        suggestions = SuggestionService(writer=writer, reader=reader, staff=staff, program=program, clock=clock)

        async def customer(self, telegram_id: int, *, last_visit: datetime | None = None, opt_in: bool = True) -> int:
            async with database.write_sessions() as session:
                row = Customer(
                    telegram_id=telegram_id, phone=f"+6012{telegram_id:07d}", first_name="C", language="en",
                    status="active", balance=0, stamps=0, member_key=f"k{telegram_id}", joined_at=clock.now,
                    last_visit_at=last_visit, marketing_opt_in=opt_in,
                )
                session.add(row)
                await session.commit()
                return row.id

        async def balance(self, telegram_id: int) -> int:
            async with database.read_sessions() as session:
                return int((await session.execute(select(Customer.balance).where(Customer.telegram_id == telegram_id))).scalar_one())

        async def ledger(self, kind: str) -> list[LedgerEntry]:
            async with database.read_sessions() as session:
                return list((await session.execute(select(LedgerEntry).where(LedgerEntry.kind == kind))).scalars())

    return Kit()


async def complete(kit: Any, telegram_id: int, survey_id: int) -> Completion:
    view = await kit.surveys.current_question(telegram_id, survey_id, "en")
    outcome: Any = await kit.surveys.answer(telegram_id, survey_id, view.question_id, "en", score=5)
    outcome = await kit.surveys.answer(telegram_id, survey_id, outcome.question_id, "en", choice=1)
    outcome = await kit.surveys.answer(telegram_id, survey_id, outcome.question_id, "en", skip=True)
    assert isinstance(outcome, Completion)
    return outcome


async def test_only_owners_create_and_read_results(kit: Any) -> None:
    draft = kit.surveys.parse(DEFINITION)
    with pytest.raises(NotAllowed):
        await kit.surveys.create(2001, draft)
    survey = await kit.surveys.create(OWNER, draft)
    for call in (
        kit.surveys.results(2001, survey, "en"),
        kit.surveys.results_csv(2001, survey),
        kit.surveys.close(2001, survey),
        kit.suggestions.newest(2001),
    ):
        with pytest.raises(NotAllowed):
            await call


async def test_answers_are_validated_and_in_order(kit: Any) -> None:
    survey = await kit.surveys.create(OWNER, kit.surveys.parse(DEFINITION))
    await kit.customer(2001)
    view = await kit.surveys.current_question(2001, survey, "ms")
    assert isinstance(view, QuestionView) and view.text == "Kopi?" and view.number == 1 and view.total == 3
    for bad in (0, 6, -1):
        with pytest.raises(AnswerInvalid):
            await kit.surveys.answer(2001, survey, view.question_id, "en", score=bad)
    with pytest.raises(QuestionNotOptional):
        await kit.surveys.answer(2001, survey, view.question_id, "en", skip=True)
    second = await kit.surveys.answer(2001, survey, view.question_id, "en", score=3)
    assert isinstance(second, QuestionView) and second.kind == "choice" and second.options == ("Coffee", "Tea")
    with pytest.raises(QuestionAlreadyAnswered):  # a stale button of question 1
        await kit.surveys.answer(2001, survey, view.question_id, "en", score=4)
    with pytest.raises(AnswerInvalid):
        await kit.surveys.answer(2001, survey, second.question_id, "en", choice=2)
    third = await kit.surveys.answer(2001, survey, second.question_id, "en", choice=0)
    with pytest.raises(AnswerInvalid):
        await kit.surveys.answer(2001, survey, third.question_id, "en", text="x" * 1001)
    with pytest.raises(AnswerInvalid):
        await kit.surveys.answer(2001, survey, third.question_id, "en", text="   ")
    async with kit.db.read_sessions() as session:
        scores = (await session.execute(select(SurveyAnswer.score).where(SurveyAnswer.kind == "rating"))).scalars().all()
    assert scores == [3]


async def test_reward_once_per_month_for_monthly_surveys(kit: Any, clock: Clock) -> None:
    survey = await kit.surveys.create(OWNER, kit.surveys.parse(DEFINITION))
    await kit.customer(2001)
    done = await complete(kit, 2001, survey)
    assert (done.points, done.balance) == (7, 7)
    with pytest.raises(SurveyAlreadyCompleted):
        await kit.surveys.current_question(2001, survey, "en")
    assert await kit.surveys.available(2001, "en") == []
    # Next month (local time: 1 April 00:00 in Kuala Lumpur is 31 March 16:00 UTC) it is open again.
    clock.now = datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
    assert [offer.survey_id for offer in await kit.surveys.available(2001, "en")] == [survey]
    await complete(kit, 2001, survey)
    assert await kit.balance(2001) == 14
    keys = sorted(entry.idempotency_key for entry in await kit.ledger("survey"))
    customer_id = (await kit.ledger("survey"))[0].customer_id
    assert keys == [f"survey:{survey}:{customer_id}:2026-03", f"survey:{survey}:{customer_id}:2026-04"]


async def test_concurrent_completions_credit_once(kit: Any) -> None:
    survey = await kit.surveys.create(OWNER, kit.surveys.parse(DEFINITION.replace("text?:", "text:")))
    await kit.customer(2001)
    view = await kit.surveys.current_question(2001, survey, "en")
    outcome = await kit.surveys.answer(2001, survey, view.question_id, "en", score=5)
    outcome = await kit.surveys.answer(2001, survey, outcome.question_id, "en", choice=1)
    results = await asyncio.gather(
        *(kit.surveys.answer(2001, survey, outcome.question_id, "en", text=f"t{i}") for i in range(5)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Completion) for r in results) == 1
    assert all(isinstance(r, (Completion, QuestionAlreadyAnswered, SurveyAlreadyCompleted)) for r in results), results
    assert await kit.balance(2001) == 7
    assert len(await kit.ledger("survey")) == 1


async def test_closed_and_expired_surveys_refuse_answers(kit: Any, clock: Clock) -> None:
    survey = await kit.surveys.create(OWNER, kit.surveys.parse("days: 3\n" + DEFINITION))
    await kit.customer(2001)
    view = await kit.surveys.current_question(2001, survey, "en")
    clock.now += timedelta(days=3)
    with pytest.raises(SurveyNotOpen):
        await kit.surveys.answer(2001, survey, view.question_id, "en", score=4)
    other = await kit.surveys.create(OWNER, kit.surveys.parse(DEFINITION))
    view = await kit.surveys.current_question(2001, other, "en")
    await kit.surveys.close(OWNER, other)
    with pytest.raises(SurveyNotOpen):
        await kit.surveys.answer(2001, other, view.question_id, "en", score=4)
    assert await kit.surveys.available(2001, "en") == []


async def test_recent_audience_and_invitees(kit: Any, clock: Clock) -> None:
    survey = await kit.surveys.create(OWNER, kit.surveys.parse("audience: recent 30\n" + DEFINITION))
    recent = await kit.customer(2001, last_visit=clock.now - timedelta(days=5))
    await kit.customer(2002, last_visit=clock.now - timedelta(days=45))
    await kit.customer(2003)
    await kit.customer(2004, last_visit=clock.now - timedelta(days=1), opt_in=False)
    assert [o.survey_id for o in await kit.surveys.available(2001, "en")] == [survey]
    assert await kit.surveys.available(2002, "en") == []
    with pytest.raises(SurveyNotOpen):
        await kit.surveys.current_question(2003, survey, "en")
    assert await kit.surveys.invitees(survey) == [(recent, 2001)]
    await complete(kit, 2001, survey)
    assert await kit.surveys.invitees(survey) == []
    everyone = await kit.surveys.create(OWNER, kit.surveys.parse(DEFINITION))
    assert [telegram for _, telegram in await kit.surveys.invitees(everyone)] == [2001, 2002, 2003]


async def test_tier_audience_and_invitees(kit: Any) -> None:
    survey = await kit.surveys.create(OWNER, kit.surveys.parse("audience: tier bronze\n" + DEFINITION))
    silver_survey = await kit.surveys.create(OWNER, kit.surveys.parse("audience: tier silver\n" + DEFINITION))
    first = await kit.customer(2001)  # no tier yet: the first tier, bronze
    silver = await kit.customer(2002)
    retired = await kit.customer(2003)  # a code the ladder no longer has: bronze too
    await kit.customer(2004, opt_in=False)  # bronze, but no invitation without marketing consent
    async with kit.db.write_sessions() as session:
        await session.execute(update(Customer).where(Customer.id == silver).values(tier="silver"))
        await session.execute(update(Customer).where(Customer.id == retired).values(tier="platinum"))
        await session.commit()
    assert await kit.surveys.invitees(survey) == [(first, 2001), (retired, 2003)]
    assert await kit.surveys.invitees(silver_survey) == [(silver, 2002)]
    assert [o.survey_id for o in await kit.surveys.available(2002, "en")] == [silver_survey]
    assert [o.survey_id for o in await kit.surveys.available(2004, "en")] == [survey]
    with pytest.raises(SurveyNotOpen):
        await kit.surveys.current_question(2001, silver_survey, "en")
    await complete(kit, 2002, silver_survey)
    assert await kit.surveys.invitees(silver_survey) == []


async def invitations(kit: Any) -> dict[str, list[int]]:
    """Queued invitations by campaign key: the telegram ids, in order."""
    async with kit.db.read_sessions() as session:
        rows = await session.execute(
            select(Campaign.key, Customer.telegram_id)
            .join(Delivery, Delivery.campaign_id == Campaign.id)
            .join(Customer, Customer.id == Delivery.customer_id)
            .order_by(Campaign.id, Customer.telegram_id)
        )
        out: dict[str, list[int]] = {}
        for key, telegram_id in rows:
            out.setdefault(key, []).append(telegram_id)
        return out


async def test_invitations_through_the_outbox_once_a_month(kit: Any, clock: Clock) -> None:
    await kit.customer(2001)
    await kit.customer(2002)
    await kit.customer(2003, opt_in=False)  # no marketing consent: never invited
    survey = await kit.surveys.create(OWNER, kit.surveys.parse(DEFINITION))  # monthly
    march, april = f"survey:{survey}:2026-03", f"survey:{survey}:2026-04"
    assert await invitations(kit) == {march: [2001, 2002]}
    async with kit.db.read_sessions() as session:
        campaign = (await session.execute(select(Campaign).where(Campaign.key == march))).scalar_one()
    assert (campaign.kind, campaign.promotional, campaign.survey_id, campaign.total) == ("survey", True, survey, 2)

    # The job finds this month done: nothing more, however often it runs.
    assert await kit.surveys.invite_due_surveys(clock.now) == 0
    assert await kit.surveys.invite_due_surveys(clock.now + timedelta(days=3)) == 0
    assert await invitations(kit) == {march: [2001, 2002]}

    # Next month: invited again, except whoever already completed April's round.
    clock.now = datetime(2026, 4, 2, 3, 0, tzinfo=UTC)
    await complete(kit, 2002, survey)
    assert await kit.surveys.invite_due_surveys(clock.now) == 1
    assert await kit.surveys.invite_due_surveys(clock.now) == 0
    assert await invitations(kit) == {march: [2001, 2002], april: [2001]}
    results = await kit.surveys.results(OWNER, survey, "en")
    assert (results.invited, results.invitations_sent) == (3, 0)

    # One-off surveys are invited once, on creation; closed surveys no more.
    once = await kit.surveys.create(OWNER, kit.surveys.parse(DEFINITION.replace("repeat: monthly", "repeat: once")))
    assert (await invitations(kit))[f"survey:{once}:once"] == [2001, 2002]
    await kit.surveys.close(OWNER, survey)  # what was not sent yet never will be
    async with kit.db.read_sessions() as session:
        statuses = (await session.execute(select(Delivery.status).join(Campaign).where(Campaign.survey_id == survey))).scalars()
        assert set(statuses) == {"cancelled"}
    clock.now = datetime(2026, 5, 2, 3, 0, tzinfo=UTC)
    assert await kit.surveys.invite_due_surveys(clock.now) == 0


async def test_results_aggregate_answers(kit: Any) -> None:
    survey = await kit.surveys.create(OWNER, kit.surveys.parse(DEFINITION.replace("rating:", "nps:")))
    for telegram, score in ((2001, 10), (2002, 9), (2003, 6), (2004, 8)):
        await kit.customer(telegram)
        view = await kit.surveys.current_question(telegram, survey, "en")
        await kit.surveys.answer(telegram, survey, view.question_id, "en", score=score)
    results = await kit.surveys.results(OWNER, survey, "en")
    nps = results.questions[0]
    # Promoters 10, 9; detractor 6; passive 8: (2 - 1) / 4 = 25. Average (10+9+6+8)/4 = 8.25.
    assert (nps.answers, nps.nps, nps.average) == (4, 25.0, 8.25)
    assert (results.started, results.completed) == (4, 0)


async def test_suggestions_adopted_once_with_bonus(kit: Any) -> None:
    await kit.customer(2001)
    first = await kit.suggestions.submit(2001, "  Oat milk please  ")
    for index in range(4):
        await kit.suggestions.submit(2001, f"idea {index}")
    with pytest.raises(SuggestionLimit):
        await kit.suggestions.submit(2001, "one too many")
    adoption = await kit.suggestions.adopt(OWNER, first)
    assert (adoption.points, adoption.balance, adoption.author_telegram_id) == (20, 20, 2001)
    with pytest.raises(SuggestionAlreadyAdopted):
        await kit.suggestions.adopt(OWNER, first)
    with pytest.raises(NotAllowed):
        await kit.suggestions.adopt(2001, first + 1)
    assert await kit.balance(2001) == 20
    assert [e.idempotency_key for e in await kit.ledger("bonus")] == [f"suggestion:{first}"]
    entries = await kit.suggestions.newest(OWNER)
    assert entries[-1].text == "Oat milk please" and entries[-1].adopted


async def test_survey_and_suggestion_points_can_be_spent_and_expire_like_any_points(kit: Any, clock: Clock) -> None:
    """Every positive ledger entry opens a points lot: survey rewards and suggestion bonuses
    are redeemed (FIFO from the lots) and expire like purchase points."""
    from loyaltybot.db.models import PointLot
    from loyaltybot.services.rewards import RewardService

    survey = await kit.surveys.create(OWNER, kit.surveys.parse(DEFINITION))
    await kit.customer(2001)
    await complete(kit, 2001, survey)
    await kit.suggestions.adopt(OWNER, await kit.suggestions.submit(2001, "Oat milk please"))
    assert await kit.balance(2001) == 27
    async with kit.db.read_sessions() as session:
        lots = (await session.execute(select(PointLot).order_by(PointLot.id))).scalars().all()
    assert [(lot.points, lot.remaining) for lot in lots] == [(7, 7), (20, 20)]
    assert all(lot.expires_at is not None and lot.expires_at > clock.now for lot in lots)

    writer, reader = uow_factories(kit.db)
    rewards = RewardService(
        writer=writer, reader=reader, program=Program(), secret_key=b"k" * 32, owner_ids=frozenset({OWNER}), clock=clock
    )
    reward = await rewards.create(OWNER, {"name_en": "Cake", "name_ms": "Kek", "cost": 27})
    reserved = await rewards.redeem(2001, reward.id)
    assert (reserved.points, reserved.balance) == (27, 0)
