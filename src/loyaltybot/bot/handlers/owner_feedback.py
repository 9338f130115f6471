"""The owner's dashboard (/stats), survey management and the suggestion list (/feedback).

Reachable by command and through the /admin hub's sections "surveys" and "suggestions"
(AdminCb). The router is owner-only, and every service call re-checks the role.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from loyaltybot.bot.callbacks import AdminCb, OwnerSurveyCb, StatsCb, SuggestionCb
from loyaltybot.bot.feedback_texts import decimal, feedback_error_text, fit_message, percent
from loyaltybot.bot.filters import IsOwner
from loyaltybot.bot.promotions import tier_name
from loyaltybot.bot.texts import error_text, local_time, name
from loyaltybot.config import TiersSection
from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.metrics import trend
from loyaltybot.domain.surveys import SurveyDraft
from loyaltybot.render import charts
from loyaltybot.services.container import Services
from loyaltybot.services.dashboard import Dashboard
from loyaltybot.services.staff import Identity
from loyaltybot.services.surveys import SurveyResults, SurveySummary

log = logging.getLogger(__name__)

SURVEY_TEMPLATE = """title: Coffee check | Semakan kopi
reward: 10
days: 30
audience: all
repeat: monthly
rating: How was your coffee today? | Bagaimana kopi anda hari ini?
nps: How likely are you to recommend us to a friend? | Sejauh manakah anda akan mengesyorkan kami kepada rakan?
choice: What do you order most? | Apakah yang paling kerap anda pesan?
- Coffee | Kopi
- Tea | Teh
- Food | Makanan
text?: Anything we could do better? | Apa-apa yang boleh kami perbaiki?"""


class OwnerForm(StatesGroup):
    survey_definition = State()


def dashboard_text(board: Dashboard) -> str:
    now, before, snap = board.current, board.previous, board.snapshot
    lines = [
        _("📊 <b>Dashboard</b> · {month} (arrows compare with {previous})").format(month=now.label, previous=before.label),
        "",
        _("👥 Members: <b>{members}</b> {arrow} · new this month: {new} {new_arrow}").format(
            members=board.members_now,
            arrow=trend(now.members, before.members),
            new=now.new_members,
            new_arrow=trend(now.new_members, before.new_members),
        ),
        _("🟢 Active customers: 30 days <b>{a30}</b> {a30_arrow} · 90 days <b>{a90}</b> {a90_arrow}").format(
            a30=snap.active_30,
            a30_arrow=trend(snap.active_30, snap.active_30_previous),
            a90=snap.active_90,
            a90_arrow=trend(snap.active_90, snap.active_90_previous),
        ),
        _("🔁 Retention rate: <b>{value}</b> {arrow}").format(
            value=percent(now.retention), arrow=trend(now.retention, before.retention)
        ),
        _("📉 Churn rate (no visit in {days} days): <b>{value}</b> {arrow}").format(
            days=board.churn_window_days, value=percent(snap.churn), arrow=trend(snap.churn, snap.churn_previous)
        ),
        _("🔂 Repeat-visit rate: <b>{value}</b> {arrow}").format(
            value=percent(now.repeat_rate), arrow=trend(now.repeat_rate, before.repeat_rate)
        ),
        _("🧾 Visits per active customer: <b>{value}</b> {arrow}").format(
            value=decimal(now.average_visits), arrow=trend(now.average_visits, before.average_visits)
        ),
        "",
        _("⭐ Points issued this month: <b>{issued}</b> {issued_arrow} · redeemed: <b>{redeemed}</b> {redeemed_arrow}").format(
            issued=now.issued,
            issued_arrow=trend(now.issued, before.issued),
            redeemed=now.redeemed,
            redeemed_arrow=trend(now.redeemed, before.redeemed),
        ),
        _("🎁 Redemption rate: <b>{value}</b> {arrow}").format(
            value=percent(now.redemption_rate), arrow=trend(now.redemption_rate, before.redemption_rate)
        ),
        _("💰 Points outstanding (liability): <b>{value}</b>").format(value=board.outstanding),
        "",
        _("😊 Customer satisfaction (CSAT): <b>{value}</b> of {count} ratings {arrow}").format(
            value=percent(now.csat), count=now.ratings, arrow=trend(now.csat, before.csat)
        ),
        _("📣 Net Promoter Score (NPS): <b>{value}</b> from {count} answers {arrow}").format(
            value=decimal(now.nps, 0), count=now.nps_answers, arrow=trend(now.nps, before.nps)
        ),
        _("📵 Unreachable customers (blocked the bot): <b>{value}</b>").format(value=board.unreachable),
    ]
    return "\n".join(lines)


def dashboard_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=_("📈 Charts"), callback_data=StatsCb(action="charts").pack()),
                InlineKeyboardButton(text=_("📄 CSV export"), callback_data=StatsCb(action="csv").pack()),
            ],
            [
                InlineKeyboardButton(text=_("📝 Surveys"), callback_data=AdminCb(section="surveys").pack()),
                InlineKeyboardButton(text=_("💡 Suggestions"), callback_data=AdminCb(section="suggestions").pack()),
            ],
        ]
    )


def survey_line(summary: SurveySummary) -> str:
    status = _("open") if summary.open else _("closed")
    return _("{title} · {status} · {count} completed").format(title=summary.title, status=status, count=summary.completed)


def results_text(results: SurveyResults, tiers: TiersSection) -> str:
    summary = results.summary
    lines = [
        _("📋 <b>{title}</b> · {status}").format(
            title=name(summary.title), status=_("open") if summary.open else _("closed")
        ),
        _("Reward: {points} points · {recurrence} · audience: {audience}").format(
            points=summary.reward_points,
            recurrence=_("monthly") if summary.recurrence == "monthly" else _("one-off"),
            audience=_("recent visitors")
            if summary.audience == "recent"
            else _("tier {tier}").format(tier=name(tier_name(tiers, summary.tier)))
            if summary.audience == "tier" and summary.tier
            else _("all customers"),
        ),
        _("Responses: {completed} completed, {started} started").format(
            completed=results.completed, started=results.started
        ),
        _("✉️ Invitations: {invited} queued, {sent} delivered").format(
            invited=results.invited, sent=results.invitations_sent
        ),
    ]
    for question in results.questions:
        lines += ["", _("<b>{number}. {text}</b>").format(number=question.number, text=name(question.text))]
        if question.kind == "rating":
            lines.append(
                _("Average {average} of 5 · CSAT {csat} · {count} answers").format(
                    average=decimal(question.average), csat=percent(question.csat), count=question.answers
                )
            )
        elif question.kind == "nps":
            lines.append(
                _("Average {average} of 10 · NPS {nps} · {count} answers").format(
                    average=decimal(question.average), nps=decimal(question.nps, 0), count=question.answers
                )
            )
        elif question.kind == "choice":
            lines += [f"• {name(option)}: {count}" for option, count in question.choices]
        else:
            if not question.texts:
                lines.append(_("No answers yet."))
            lines += [f"💬 {name(text[:300])}" for text in question.texts]
    return fit_message(lines)


def draft_preview(draft: SurveyDraft, language: str, tiers: TiersSection) -> str:
    kinds = {
        "rating": _("rating 1–5"),
        "nps": _("NPS 0–10"),
        "choice": _("single choice"),
        "text": _("free text"),
    }
    lines = [
        _("📝 <b>New survey: {title}</b>").format(title=name(draft.title.get(language))),
        _("Reward: {points} points · {recurrence} · audience: {audience}").format(
            points=draft.reward_points,
            recurrence=_("monthly") if draft.recurrence == "monthly" else _("one-off"),
            audience=_("visitors of the last {days} days").format(days=draft.recent_days)
            if draft.audience == "recent"
            else _("tier {tier}").format(tier=name(tiers.level(draft.tier).name.get(language)))
            if draft.audience == "tier"
            else _("all customers"),
        ),
        _("Open for {days} days").format(days=draft.days) if draft.days else _("Open until you close it"),
        "",
    ]
    for number, question in enumerate(draft.questions, start=1):
        optional = _(" (optional)") if question.optional else ""
        lines.append(f"{number}. {name(question.text.get(language))} — {kinds[question.kind]}{optional}")
        lines += [f"    • {name(option.get(language))}" for option in question.options]
    lines.append("")
    return fit_message(lines) + "\n" + _("Create it and open it to customers now?")


def build_router(*, i18n: I18n) -> Router:
    router = Router(name="owner-feedback")
    router.message.filter(IsOwner())
    router.callback_query.filter(IsOwner())

    def language(identity: Identity) -> str:
        return identity.language or i18n.current_locale or "en"

    async def refuse(target: Message | CallbackQuery, error: DomainError) -> None:
        text = feedback_error_text(error) or error_text(error)
        if isinstance(target, CallbackQuery):
            await target.answer(text, show_alert=True)
        else:
            await target.answer(text)

    async def replace(query: CallbackQuery, text: str, keyboard: InlineKeyboardMarkup | None) -> None:
        if not isinstance(query.message, Message):
            return
        try:
            await query.message.edit_text(text, reply_markup=keyboard)
        except TelegramBadRequest as error:
            if "message is not modified" not in error.message:
                raise

    # ------------------------------------------------------------------ dashboard
    @router.message(Command("stats"))
    async def stats(message: Message, identity: Identity, services: Services) -> None:
        try:
            board = await services.dashboard.dashboard(identity.telegram_id)
        except DomainError as error:
            await refuse(message, error)
            return
        await message.answer(dashboard_text(board), reply_markup=dashboard_keyboard())

    @router.callback_query(StatsCb.filter(F.action == "csv"))
    async def stats_csv(query: CallbackQuery, identity: Identity, services: Services) -> None:
        try:
            data = await services.dashboard.csv_export(identity.telegram_id)
        except DomainError as error:
            await refuse(query, error)
            return
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer_document(
                BufferedInputFile(data, filename="monthly-metrics.csv"), caption=_("📄 Monthly metrics, one row a month.")
            )

    @router.callback_query(StatsCb.filter(F.action == "charts"))
    async def stats_charts(query: CallbackQuery, identity: Identity, services: Services) -> None:
        try:
            board = await services.dashboard.dashboard(identity.telegram_id, months=12, cohorts=True)
        except DomainError as error:
            await refuse(query, error)
            return
        await query.answer()
        if not isinstance(query.message, Message):
            return
        months = [row.label for row in board.months]
        # Drawing is CPU work: keep the event loop serving other chats meanwhile.
        members = await asyncio.to_thread(
            charts.members_chart,
            months,
            [row.members for row in board.months],
            [row.active for row in board.months],
            title=_("Members and active customers per month"),
            members_label=_("Members"),
            active_label=_("Active in the month"),
        )
        cohorts = await asyncio.to_thread(
            charts.cohort_heatmap,
            months,
            board.cohort_sizes,
            board.cohorts,
            title=_("Retention by month joined (percent of each cohort active)"),
            joined_label=_("Month joined (customers)"),
            month_label=_("Months since joining"),
        )
        points = await asyncio.to_thread(
            charts.points_chart,
            months,
            [row.issued for row in board.months],
            [row.redeemed for row in board.months],
            title=_("Points issued and redeemed per month"),
            issued_label=_("Issued"),
            redeemed_label=_("Redeemed"),
        )
        await query.message.answer_photo(BufferedInputFile(members, filename="members.png"), caption=_("👥 Members and active customers"))
        await query.message.answer_photo(BufferedInputFile(cohorts, filename="cohorts.png"), caption=_("🔁 Monthly retention cohorts"))
        await query.message.answer_photo(BufferedInputFile(points, filename="points.png"), caption=_("⭐ Points issued vs redeemed"))

    # ------------------------------------------------------------------ surveys
    async def survey_list(identity: Identity, services: Services) -> tuple[str, InlineKeyboardMarkup]:
        summaries = await services.surveys.list_for_owner(identity.telegram_id, language(identity))
        rows = [
            [InlineKeyboardButton(text=survey_line(s), callback_data=OwnerSurveyCb(action="show", survey=s.survey_id).pack())]
            for s in summaries
        ]
        rows.append([InlineKeyboardButton(text=_("➕ New survey"), callback_data=OwnerSurveyCb(action="new").pack())])
        rows.append([InlineKeyboardButton(text=_("💡 Suggestions"), callback_data=SuggestionCb(action="list").pack())])
        text = _("📝 <b>Surveys</b>") if summaries else _("📝 <b>Surveys</b>\nNo surveys yet: create the first one.")
        return text, InlineKeyboardMarkup(inline_keyboard=rows)

    @router.message(Command("feedback"))
    async def feedback(message: Message, state: FSMContext, identity: Identity, services: Services) -> None:
        await state.clear()
        try:
            text, keyboard = await survey_list(identity, services)
        except DomainError as error:
            await refuse(message, error)
            return
        await message.answer(text, reply_markup=keyboard)

    @router.callback_query(AdminCb.filter(F.section == "surveys"))
    @router.callback_query(OwnerSurveyCb.filter(F.action == "list"))
    async def surveys_section(query: CallbackQuery, identity: Identity, services: Services) -> None:
        try:
            text, keyboard = await survey_list(identity, services)
        except DomainError as error:
            await refuse(query, error)
            return
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(text, reply_markup=keyboard)

    @router.callback_query(OwnerSurveyCb.filter(F.action == "new"))
    async def new_survey(query: CallbackQuery, state: FSMContext, services: Services) -> None:
        await query.answer()
        await state.set_state(OwnerForm.survey_definition)
        if isinstance(query.message, Message):
            await query.message.answer(
                _(
                    "📝 Send the whole survey in one message, one line each, English | Malay for every text. "
                    "Question kinds: <code>rating</code> (1–5), <code>nps</code> (0–10), <code>choice</code> "
                    "(options on the next lines, starting with “-”) and <code>text</code>; add “?” after the kind "
                    "for an optional question. <code>audience</code> is <code>all</code>, <code>recent 30</code> "
                    "(visited in 30 days) or <code>tier CODE</code> (one of: {tiers}); "
                    "<code>repeat</code> is <code>once</code> or <code>monthly</code>. "
                    "Copy and edit this example:"
                ).format(tiers=", ".join(f"<code>{level.code}</code>" for level in services.program.tiers.levels))
                + f"\n\n<pre>{name(SURVEY_TEMPLATE)}</pre>"
            )

    @router.message(OwnerForm.survey_definition, F.text, ~F.text.startswith("/"))
    async def survey_definition(message: Message, state: FSMContext, identity: Identity, services: Services) -> None:
        assert message.text is not None
        try:
            draft = services.surveys.parse(message.text)
        except DomainError as error:
            await refuse(message, error)
            return
        await state.update_data(definition=message.text)
        await message.answer(
            draft_preview(draft, language(identity), services.program.tiers),
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        InlineKeyboardButton(text=_("✅ Create survey"), callback_data=OwnerSurveyCb(action="confirm").pack()),
                        InlineKeyboardButton(text=_("Cancel"), callback_data=OwnerSurveyCb(action="cancel").pack()),
                    ]
                ]
            ),
        )

    @router.callback_query(OwnerSurveyCb.filter(F.action.in_({"confirm", "cancel"})))
    async def survey_confirm(
        query: CallbackQuery, callback_data: OwnerSurveyCb, state: FSMContext, identity: Identity, services: Services
    ) -> None:
        definition = (await state.get_data()).get("definition")
        if callback_data.action == "cancel" or not definition:
            await state.clear()
            await query.answer()
            await replace(query, _("OK, no survey was created."), None)
            return
        try:
            survey_id = await services.surveys.create(identity.telegram_id, services.surveys.parse(str(definition)))
        except DomainError as error:
            await refuse(query, error)
            return
        await state.clear()
        await query.answer()
        await replace(
            query,
            _(
                "✅ Survey created and open: customers see it in /surveys. Invitations are on their way to "
                "the customers in its audience who accept promotions; its results screen shows how many."
            ),
            InlineKeyboardMarkup(
                inline_keyboard=[
                    [InlineKeyboardButton(text=_("📋 Results"), callback_data=OwnerSurveyCb(action="show", survey=survey_id).pack())]
                ]
            ),
        )

    def results_keyboard(results: SurveyResults) -> InlineKeyboardMarkup:
        survey = results.summary.survey_id
        rows = [[InlineKeyboardButton(text=_("📄 CSV export"), callback_data=OwnerSurveyCb(action="csv", survey=survey).pack())]]
        if results.summary.open:
            rows.append(
                [InlineKeyboardButton(text=_("🔒 Close survey"), callback_data=OwnerSurveyCb(action="close", survey=survey).pack())]
            )
        rows.append([InlineKeyboardButton(text=_("◀ All surveys"), callback_data=OwnerSurveyCb(action="list").pack())])
        return InlineKeyboardMarkup(inline_keyboard=rows)

    @router.callback_query(OwnerSurveyCb.filter(F.action.in_({"show", "close"})))
    async def survey_results(
        query: CallbackQuery, callback_data: OwnerSurveyCb, identity: Identity, services: Services
    ) -> None:
        try:
            if callback_data.action == "close":
                await services.surveys.close(identity.telegram_id, callback_data.survey)
            results = await services.surveys.results(identity.telegram_id, callback_data.survey, language(identity))
        except DomainError as error:
            await refuse(query, error)
            return
        await query.answer(_("Survey closed.") if callback_data.action == "close" else None)
        if not isinstance(query.message, Message):
            return
        if callback_data.action == "close":
            await replace(query, results_text(results, services.program.tiers), results_keyboard(results))
        else:
            await query.message.answer(results_text(results, services.program.tiers), reply_markup=results_keyboard(results))

    @router.callback_query(OwnerSurveyCb.filter(F.action == "csv"))
    async def survey_csv(query: CallbackQuery, callback_data: OwnerSurveyCb, identity: Identity, services: Services) -> None:
        try:
            data = await services.surveys.results_csv(identity.telegram_id, callback_data.survey)
        except DomainError as error:
            await refuse(query, error)
            return
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer_document(
                BufferedInputFile(data, filename=f"survey-{callback_data.survey}.csv"),
                caption=_("📄 Every answer, one row each."),
            )

    # ------------------------------------------------------------------ suggestions
    async def suggestion_list(identity: Identity, services: Services) -> tuple[str, InlineKeyboardMarkup | None]:
        entries = await services.suggestions.newest(identity.telegram_id)
        if not entries:
            return _("💡 No suggestions yet."), None
        tz = services.program.shop.tz
        points = services.program.feedback.suggestion_bonus_points
        lines = [_("💡 <b>Suggestions</b> (newest first). Adopting one gives its author {points} points.").format(points=points)]
        rows = []
        for entry in entries:
            mark = "✅" if entry.adopted else "•"
            lines.append(
                _("{mark} #{id} · {when} · {author}: {text}").format(
                    mark=mark,
                    id=entry.id,
                    when=local_time(entry.created_at, tz),
                    author=name(entry.author or _("(deleted account)")),
                    text=name(entry.text[:300]),
                )
            )
            if not entry.adopted:
                rows.append(
                    [InlineKeyboardButton(text=_("✅ Adopt #{id}").format(id=entry.id), callback_data=SuggestionCb(action="adopt", id=entry.id).pack())]
                )
        return fit_message(lines), InlineKeyboardMarkup(inline_keyboard=rows) if rows else None

    @router.callback_query(AdminCb.filter(F.section == "suggestions"))
    @router.callback_query(SuggestionCb.filter(F.action == "list"))
    async def suggestions_section(query: CallbackQuery, identity: Identity, services: Services) -> None:
        try:
            text, keyboard = await suggestion_list(identity, services)
        except DomainError as error:
            await refuse(query, error)
            return
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(text, reply_markup=keyboard)

    @router.callback_query(SuggestionCb.filter(F.action == "adopt"))
    async def adopt(query: CallbackQuery, callback_data: SuggestionCb, bot: Bot, identity: Identity, services: Services) -> None:
        try:
            adoption = await services.suggestions.adopt(identity.telegram_id, callback_data.id)
        except DomainError as error:
            await refuse(query, error)
            return
        await query.answer(_("Adopted: {points} points credited.").format(points=adoption.points))
        text, keyboard = await suggestion_list(identity, services)
        await replace(query, text, keyboard)
        if adoption.author_telegram_id is not None:
            with i18n.use_locale(adoption.author_language):
                notice = _(
                    "💡 Good news: the shop adopted your suggestion! <b>+{points}</b> points. Your balance: {balance}."
                ).format(points=adoption.points, balance=adoption.balance)
            try:
                await bot.send_message(adoption.author_telegram_id, notice)
            except TelegramAPIError as error:  # blocked the bot: the points are credited anyway
                log.info("could not tell a suggestion author: %s", error.message)

    return router
