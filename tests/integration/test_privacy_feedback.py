"""Free text a customer wrote (suggestions, survey answers) is in their export and erased on deletion."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from loyaltybot.db.models import Suggestion, Survey, SurveyAnswer, SurveyQuestion, SurveyResponse
from loyaltybot.db.uow import uow_factories

from .test_customer_service import register

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def _seed_free_text(database: Any, customer_id: int) -> None:
    writer, _ = uow_factories(database)
    async with writer() as uow:
        survey = Survey(
            title_en="Check", title_ms="Semak", reward_points=0, audience="all", recent_days=30,
            recurrence="once", starts_at=NOW, created_at=NOW,
        )
        uow.session.add(survey)
        await uow.session.flush()
        question = SurveyQuestion(survey_id=survey.id, position=1, kind="text", text_en="Q", text_ms="S", optional=False)
        response = SurveyResponse(survey_id=survey.id, customer_id=customer_id, period="once", started_at=NOW)
        uow.session.add_all([question, response])
        await uow.session.flush()
        uow.session.add(
            SurveyAnswer(response_id=response.id, question_id=question.id, kind="text", text="Call me at 0123456789", answered_at=NOW)
        )
        uow.session.add(Suggestion(customer_id=customer_id, text="My name is Aina, add oat milk", status="new", created_at=NOW))
        await uow.commit()


async def test_export_includes_and_delete_erases_free_text(services: Any, database: Any, fetch: Any) -> None:
    registration = await register(services, 111)
    await _seed_free_text(database, registration.profile.id)

    exported = await services.customers.export_data(111)
    json.dumps(exported)
    assert exported["survey_answers"][0]["text"] == "Call me at 0123456789"
    assert exported["suggestions"][0]["text"] == "My name is Aina, add oat milk"

    await services.customers.delete_account(111)
    answers = await fetch(SurveyAnswer)
    suggestions = await fetch(Suggestion)
    assert [a.text for a in answers] == [None]
    assert [s.text for s in suggestions] == [""]
