"""Customers answer surveys (buttons for scales and choices, a message for free text) and
send suggestions. Answers are stored as they come, so a survey resumes where it stopped."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from loyaltybot.bot.callbacks import SurveyCb
from loyaltybot.bot.feedback_texts import feedback_error_text
from loyaltybot.bot.filters import IsRegistered
from loyaltybot.bot.menu import MENU_SURVEYS, all_translations
from loyaltybot.bot.texts import error_text, name
from loyaltybot.domain.errors import DomainError
from loyaltybot.services.container import Services
from loyaltybot.services.staff import Identity
from loyaltybot.services.surveys import Completion, QuestionView


class SurveyForm(StatesGroup):
    text_answer = State()
    suggestion = State()


def question_screen(view: QuestionView) -> tuple[str, InlineKeyboardMarkup | None]:
    lines = [
        _("📝 <b>{title}</b> · question {number} of {total}").format(
            title=name(view.title), number=view.number, total=view.total
        ),
        "",
        name(view.text),
    ]
    rows: list[list[InlineKeyboardButton]] = []

    def button(text: str, value: int) -> InlineKeyboardButton:
        data = SurveyCb(action="ans", survey=view.survey_id, question=view.question_id, value=value)
        return InlineKeyboardButton(text=text, callback_data=data.pack())

    if view.kind == "rating":
        lines.append(_("<i>1 = very poor, 5 = excellent</i>"))
        rows.append([button(str(score), score) for score in range(1, 6)])
    elif view.kind == "nps":
        lines.append(_("<i>0 = not at all likely, 10 = extremely likely</i>"))
        rows.append([button(str(score), score) for score in range(0, 6)])
        rows.append([button(str(score), score) for score in range(6, 11)])
    elif view.kind == "choice":
        rows += [[button(option, index)] for index, option in enumerate(view.options)]
    else:
        lines.append(_("<i>Type your answer and send it as a message.</i>"))
    if view.optional:
        skip = SurveyCb(action="skip", survey=view.survey_id, question=view.question_id)
        rows.append([InlineKeyboardButton(text=_("Skip ⏭"), callback_data=skip.pack())])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def completion_text(done: Completion) -> str:
    if done.points:
        return _("🎉 Thank you for completing <b>{title}</b>! <b>+{points}</b> points. Your balance: {balance}.").format(
            title=name(done.title), points=done.points, balance=done.balance
        )
    return _("🎉 Thank you for completing <b>{title}</b>!").format(title=name(done.title))


def build_router(*, i18n: I18n) -> Router:
    router = Router(name="surveys")
    router.message.filter(IsRegistered())
    router.callback_query.filter(IsRegistered())

    def language(identity: Identity) -> str:
        return identity.language or "en"

    async def show(target: Message, state: FSMContext, outcome: QuestionView | Completion, *, edit: bool) -> None:
        if isinstance(outcome, Completion):
            await state.clear()
            text, keyboard = completion_text(outcome), None
        else:
            text, keyboard = question_screen(outcome)
            if outcome.kind == "text":
                await state.set_state(SurveyForm.text_answer)
                await state.set_data({"survey": outcome.survey_id, "question": outcome.question_id})
            else:
                await state.clear()
        if edit:
            try:
                await target.edit_text(text, reply_markup=keyboard)
                return
            except TelegramBadRequest as error:
                if "message is not modified" in error.message:
                    return
        await target.answer(text, reply_markup=keyboard)

    @router.message(Command("surveys"))
    @router.message(F.text.in_(all_translations(i18n, MENU_SURVEYS)))
    async def surveys(message: Message, state: FSMContext, identity: Identity, services: Services) -> None:
        await state.clear()
        offers = await services.surveys.available(identity.telegram_id, language(identity))
        rows = []
        if offers:
            lines = [_("📝 <b>Surveys</b>: tell us what you think and earn points.")]
            for offer in offers:
                label = _("{title} · +{points} points").format(title=offer.title, points=offer.reward_points)
                if offer.answered:
                    label = _("{title} · continue ({answered}/{total})").format(
                        title=offer.title, answered=offer.answered, total=offer.total
                    )
                rows.append([InlineKeyboardButton(text=label, callback_data=SurveyCb(action="open", survey=offer.survey_id).pack())])
        else:
            lines = [_("📝 There are no surveys for you right now. Thank you, and come back later!")]
        lines += ["", _("💡 Have an idea for the shop? Send it to our suggestion box.")]
        rows.append([InlineKeyboardButton(text=_("💡 Send a suggestion"), callback_data=SurveyCb(action="suggest").pack())])
        await message.answer("\n".join(lines), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))

    @router.callback_query(SurveyCb.filter(F.action == "open"))
    async def open_survey(
        query: CallbackQuery, callback_data: SurveyCb, state: FSMContext, identity: Identity, services: Services
    ) -> None:
        try:
            view = await services.surveys.current_question(identity.telegram_id, callback_data.survey, language(identity))
        except DomainError as error:
            await query.answer(feedback_error_text(error) or error_text(error), show_alert=True)
            return
        await query.answer()
        if isinstance(query.message, Message):
            await show(query.message, state, view, edit=False)

    @router.callback_query(SurveyCb.filter(F.action.in_({"ans", "skip"})))
    async def answer_button(
        query: CallbackQuery, callback_data: SurveyCb, state: FSMContext, identity: Identity, services: Services
    ) -> None:
        try:
            outcome = await services.surveys.answer(
                identity.telegram_id,
                callback_data.survey,
                callback_data.question,
                language(identity),
                score=callback_data.value,
                choice=callback_data.value,
                skip=callback_data.action == "skip",
            )
        except DomainError as error:
            await query.answer(feedback_error_text(error) or error_text(error), show_alert=True)
            return
        await query.answer()
        if isinstance(query.message, Message):
            await show(query.message, state, outcome, edit=True)

    @router.message(SurveyForm.text_answer, F.text, ~F.text.startswith("/"))
    async def answer_text(message: Message, state: FSMContext, identity: Identity, services: Services) -> None:
        assert message.text is not None
        data = await state.get_data()
        try:
            outcome = await services.surveys.answer(
                identity.telegram_id, int(data["survey"]), int(data["question"]), language(identity), text=message.text
            )
        except DomainError as error:
            await message.answer(feedback_error_text(error) or error_text(error))
            if error.code != "survey_answer_invalid":
                await state.clear()
            return
        await show(message, state, outcome, edit=False)

    # ------------------------------------------------------------------ suggestion box
    @router.callback_query(SurveyCb.filter(F.action == "suggest"))
    async def suggest(query: CallbackQuery, state: FSMContext) -> None:
        await query.answer()
        await state.set_state(SurveyForm.suggestion)
        if isinstance(query.message, Message):
            await query.message.answer(_("💡 Type your suggestion and send it. The owner reads every one."))

    @router.message(SurveyForm.suggestion, F.text, ~F.text.startswith("/"))
    async def suggestion_given(message: Message, state: FSMContext, identity: Identity, services: Services) -> None:
        assert message.text is not None
        try:
            await services.suggestions.submit(identity.telegram_id, message.text)
        except DomainError as error:
            await message.answer(feedback_error_text(error) or error_text(error))
            if error.code != "suggestion_invalid":
                await state.clear()
            return
        await state.clear()
        await message.answer(
            _("🙏 Thank you! Your suggestion was sent to the owner. If it is adopted, you will earn bonus points.")
        )

    return router
