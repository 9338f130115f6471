"""Surveys, the suggestion box and the owner's dashboard, end to end through the emulator."""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from loyaltybot.app import build_app
from loyaltybot.db.models import Customer, Delivery, LedgerEntry, Suggestion, SurveyAnswer
from loyaltybot.sandbox import BotApiEmulator

from . import conftest as harness
from .conftest import OWNER_ID, RunningBot, expect, make_settings, picker_buttons, register
from .seed import open_chats, seed_customers

SURVEY = """title: Coffee check | Semakan kopi
reward: 10
rating: How was your coffee? | Bagaimana kopi anda?
choice: What do you order most? | Apa yang paling kerap anda pesan?
- Coffee | Kopi
- Tea | Teh
text: Anything else? | Ada apa-apa lagi?
nps?: Would you recommend us? | Adakah anda akan mengesyorkan kami?"""


async def create_survey(owner, definition: str = SURVEY) -> None:  # type: ignore[no-untyped-def]
    await owner.send("/feedback")
    screen = await expect(owner, "Surveys")
    await owner.click(screen, "➕ New survey")
    await expect(owner, "Send the whole survey")
    await owner.send(definition)
    preview = await expect(owner, "New survey: Coffee check", "Reward: 10 points", "free text (optional)" if "text?" in definition else "")
    await owner.click(preview, "✅ Create survey")
    await owner.wait_for_edit(preview, predicate=lambda m: "Survey created" in (m.text or ""))


async def test_survey_created_answered_resumed_rewarded_once(bot: RunningBot, emulator: BotApiEmulator) -> None:
    owner = emulator.user(OWNER_ID, "Owner")
    await owner.send("/feedback")
    empty = await expect(owner, "No surveys yet")
    await owner.click(empty, "➕ New survey")
    await expect(owner, "Send the whole survey")
    await owner.send("title: Only English\nrating: Fine?")
    await expect(owner, "Line 1", "English and Malay")
    await owner.send(SURVEY)
    preview = await expect(owner, "New survey: Coffee check", "Reward: 10 points", "NPS 0–10 (optional)")
    await owner.click(preview, "✅ Create survey")
    await owner.wait_for_edit(preview, predicate=lambda m: "Survey created" in (m.text or ""))

    alice = emulator.user(1101, "Alice", phone="+60123450001")
    await register(alice)
    await alice.send("/surveys")
    listing = await expect(alice, "Surveys")
    await alice.click(listing, "Coffee check · +10 points")
    question = await expect(alice, "question 1 of 4", "How was your coffee?")
    assert picker_buttons(question) == ["1", "2", "3", "4", "5"]
    await alice.click(question, "4")
    question = await alice.wait_for_edit(question, predicate=lambda m: "question 2 of 4" in (m.text or ""))
    await alice.click(question, "Tea")
    await alice.wait_for_edit(question, predicate=lambda m: "question 3 of 4" in (m.text or ""))

    # She stops here and comes back later (after a restart, too): the survey resumes at question 3.
    await bot.restart()
    await alice.send("/surveys")
    listing = await expect(alice, "Surveys")
    await alice.click(listing, "Coffee check · continue (2/4)")
    await expect(alice, "question 3 of 4", "Anything else?")
    await alice.send("<b>More cakes</b> & less sugar")
    last = await expect(alice, "question 4 of 4", "recommend")
    assert "Skip ⏭" in picker_buttons(last)
    await alice.click(last, "Skip ⏭")
    done = await alice.wait_for_edit(last, predicate=lambda m: "Thank you" in (m.text or ""))
    assert "+10" in (done.text or "")

    customer = await bot.scalar(select(Customer).where(Customer.telegram_id == 1101))
    assert customer.balance == 10
    assert await bot.count(LedgerEntry, LedgerEntry.kind == "survey") == 1
    stored = await bot.scalar(select(SurveyAnswer.text).where(SurveyAnswer.kind == "text"))
    assert stored == "<b>More cakes</b> & less sugar"  # stored as sent

    # A second completion is refused and credits nothing: the old list button, and the service.
    handle = await alice.click(listing, "Coffee check · continue (2/4)")
    answer = await handle.wait_answer()
    assert "already completed" in (answer.text or "")
    await alice.send("/surveys")
    await expect(alice, "no surveys for you right now")
    assert (await bot.scalar(select(Customer.balance).where(Customer.telegram_id == 1101))) == 10
    assert await bot.count(LedgerEntry, LedgerEntry.kind == "survey") == 1

    # The owner sees the results; free text is shown escaped (as literal text, not bold).
    await owner.send("/feedback")
    screen = await expect(owner, "Surveys")
    await owner.click(screen, "Coffee check · open · 1 completed")
    results = await expect(owner, "Responses: 1 completed", "CSAT 100%", "Tea: 1", "<b>More cakes</b> & less sugar")
    await owner.click(results, "📄 CSV export")
    export = await owner.wait_for_message()
    rows = list(csv.DictReader(io.StringIO(export.document_bytes.decode())))  # type: ignore[union-attr]
    assert [row["kind"] for row in rows] == ["rating", "choice", "text", "nps"]
    assert [row["skipped"] for row in rows] == ["no", "no", "no", "yes"]
    assert rows[1]["choice"] == "Tea"
    await owner.click(results, "🔒 Close survey")
    closed = await owner.wait_for_edit(results)
    assert "closed" in (closed.text or "")
    bob = emulator.user(1102, "Bob", phone="+60123450002")
    await register(bob)
    await bob.send("/surveys")
    await expect(bob, "no surveys for you right now")


async def test_customers_get_no_owner_screens(bot: RunningBot, emulator: BotApiEmulator) -> None:
    """Forged or out-of-scale button data is refused by the services (tests/integration/test_surveys.py)."""
    owner = emulator.user(OWNER_ID, "Owner")
    await create_survey(owner)
    carol = emulator.user(1103, "Carol", phone="+60123450003")
    await register(carol)
    for command in ("/stats", "/feedback"):
        await carol.send(command)
        reply = await carol.wait_for_message()
        assert "Dashboard" not in (reply.text or "") and "New survey" not in str(reply.reply_markup)


async def test_suggestion_adopted_credits_bonus_once(bot: RunningBot, emulator: BotApiEmulator) -> None:
    dave = emulator.user(1104, "Dave", phone="+60123450004")
    await register(dave)
    await dave.send("/surveys")
    listing = await expect(dave, "no surveys")
    await dave.click(listing, "💡 Send a suggestion")
    await expect(dave, "Type your suggestion")
    await dave.send("Oat milk <please>")
    await expect(dave, "Thank you! Your suggestion was sent")
    assert await bot.count(Suggestion) == 1

    owner = emulator.user(OWNER_ID, "Owner")
    await owner.send("/feedback")
    screen = await expect(owner, "Surveys")
    await owner.click(screen, "💡 Suggestions")
    suggestions = await expect(owner, "Suggestions", "Dave: Oat milk <please>", "20 points")
    await owner.click(screen, "💡 Suggestions")
    stale = await expect(owner, "Suggestions")  # a second copy of the list, e.g. in another session
    adopt = next(text for text in picker_buttons(suggestions) if text.startswith("✅ Adopt"))
    await owner.click(suggestions, adopt)
    await expect(dave, "adopted your suggestion", "+20")
    updated = await owner.wait_for_edit(suggestions)
    assert "✅ #" in (updated.text or "") and not picker_buttons(updated)
    # The stale copy's button (a double adoption) credits nothing more.
    handle = await owner.click(stale, adopt)
    assert "already adopted" in ((await handle.wait_answer()).text or "")
    assert (await bot.scalar(select(Customer.balance).where(Customer.telegram_id == 1104))) == 20
    assert await bot.count(LedgerEntry, LedgerEntry.kind == "bonus") == 1


# --------------------------------------------------------------------------- dashboard

NOW = datetime(2026, 3, 15, 8, 30, tzinfo=UTC)


@pytest.fixture
async def dated_bot(
    database_url: str, emulator: BotApiEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed_hand_dataset
) -> AsyncIterator[RunningBot]:  # type: ignore[no-untyped-def]
    """The app with its clock fixed at NOW, over the hand-built dashboard dataset."""
    monkeypatch.setattr(harness, "build_app", functools.partial(build_app, clock=lambda: NOW))
    running = RunningBot(make_settings(database_url, emulator, tmp_path), emulator)
    await running.start()
    try:
        await seed_hand_dataset(running.app.core.db)  # type: ignore[union-attr]
        yield running
    finally:
        await running.stop()


async def test_dashboard_numbers_charts_and_csv(dated_bot: RunningBot, emulator: BotApiEmulator) -> None:
    owner = emulator.user(OWNER_ID, "Owner")
    await owner.send("/stats")
    # The numbers worked out by hand in tests/integration/test_dashboard_metrics.py.
    board = await expect(
        owner,
        "2026-03 (arrows compare with 2026-02)",
        "Members: 5 ▲ · new this month: 2 ▲",
        "30 days 3 ▶ · 90 days 3",
        "Retention rate: 67% ▼",
        "Churn rate (no visit in 60 days): 25% ▶",
        "Repeat-visit rate: 50% ▲",
        "Visits per active customer: 1.5 ▲",
        "Points issued this month: 55 ▲ · redeemed: 8 ▲",
        "Redemption rate: 15% ▲",
        "Points outstanding (liability): 82",
        "(CSAT): 67% of 3 ratings ▼",
        "(NPS): 25 from 4 answers",
        "Unreachable customers (blocked the bot): 1",
    )
    await owner.click(board, "📈 Charts")
    images = await owner.wait_for_messages(3, timeout=30)
    for image in images:
        assert image.photo_bytes
        Image.open(io.BytesIO(image.photo_bytes)).verify()
    await owner.click(board, "📄 CSV export")
    export = await owner.wait_for_message()
    rows = list(csv.DictReader(io.StringIO(export.document_bytes.decode())))  # type: ignore[union-attr]
    assert rows[-1]["month"] == "2026-03" and rows[-1]["points_issued"] == "55" and rows[-1]["csat"] == "0.6667"


async def test_invitation_from_the_sender_opens_the_survey(bot: RunningBot, emulator: BotApiEmulator) -> None:
    db = bot.app.core.db  # type: ignore[union-attr]
    await seed_customers(db, [1301])
    await seed_customers(db, [1302], language="ms")
    await seed_customers(db, [1303], marketing_opt_in=False)  # no promotions: no invitation
    open_chats(emulator, [1301, 1302, 1303])
    owner = emulator.user(OWNER_ID, "Owner")
    await create_survey(owner)

    alice = emulator.user(1301)
    invitation = await expect(alice, "Coffee check", "earn 10 points", timeout=20)
    assert picker_buttons(invitation) == ["📝 Answer the survey", "🔕 Stop promotions"]
    malay = await expect(emulator.user(1302), "Semakan kopi", "10 mata", timeout=20)
    assert picker_buttons(malay) == ["📝 Jawab tinjauan", "🔕 Henti promosi"]

    await alice.click(invitation, "📝 Answer the survey")
    question = await expect(alice, "question 1 of 4", "How was your coffee?")
    await alice.click(question, "5")
    question = await alice.wait_for_edit(question, predicate=lambda m: "question 2 of 4" in (m.text or ""))
    await alice.click(question, "Coffee")
    await alice.wait_for_edit(question, predicate=lambda m: "question 3 of 4" in (m.text or ""))
    await alice.send("Great")
    last = await expect(alice, "question 4 of 4")
    await alice.click(last, "Skip ⏭")
    done = await alice.wait_for_edit(last, predicate=lambda m: "Thank you" in (m.text or ""))
    assert "+10" in (done.text or "")
    assert (await bot.scalar(select(Customer.balance).where(Customer.telegram_id == 1301))) == 10

    assert not [m for m in emulator.user(1303).messages if m.from_bot]
    assert await bot.count(Delivery) == 2  # sent once each; nothing queued twice
    await owner.send("/feedback")
    screen = await expect(owner, "Surveys")
    await owner.click(screen, "Coffee check · open · 1 completed")
    await expect(owner, "Invitations: 2 queued, 2 delivered")
