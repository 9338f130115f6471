"""Tables. All times are UTC; see DESIGN.md "Data"."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from loyaltybot.db.base import Base, BigIntPK, UTCDateTime


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint("stamps >= 0", name="stamps_not_negative"),
        CheckConstraint("status IN ('active', 'unreachable', 'deleted')", name="status_known"),
        Index("ix_customers_birthday", "birthday_month", "birthday_day"),
        Index("ix_customers_last_visit_at", "last_visit_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # NULL once the account is deleted (personal data erased, ledger kept).
    telegram_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(128))
    last_name: Mapped[str | None] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(8), default="en")
    birthday_day: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_month: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_year: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_version: Mapped[str | None] = mapped_column(String(32))
    marketing_opt_in: Mapped[bool] = mapped_column(Boolean, default=True)
    marketing_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="active")
    balance: Mapped[int] = mapped_column(Integer, default=0)
    stamps: Mapped[int] = mapped_column(Integer, default=0)
    # Random secret behind the member QR; replaced when the customer rotates their code.
    member_key: Mapped[str] = mapped_column(String(32), unique=True)
    referred_by: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_visit_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unreachable_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Tier code from spend in the rolling window (program `[tiers]`); NULL is the first tier.
    tier: Mapped[str | None] = mapped_column(String(16))


class StaffMember(Base):
    __tablename__ = "staff"
    __table_args__ = (CheckConstraint("role IN ('owner', 'staff')", name="role_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    role: Mapped[str] = mapped_column(String(8))
    display_name: Mapped[str | None] = mapped_column(String(128))
    added_by: Mapped[int | None] = mapped_column(BigInteger)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LedgerEntry(Base):
    """Append-only points entries. Corrections are reversal rows, never updates."""

    __tablename__ = "ledger"
    __table_args__ = (
        CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
        Index("ix_ledger_customer_created", "customer_id", "created_at"),
        Index("ix_ledger_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"))
    delta: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(96), unique=True)
    spend_sen: Mapped[int | None] = mapped_column(BigInteger)
    stamps_delta: Mapped[int] = mapped_column(Integer, default=0)
    staff_telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Token(Base):
    """One-time QR tokens. Single use is a conditional UPDATE on used_at, never read-then-write."""

    __tablename__ = "tokens"
    __table_args__ = (Index("ix_tokens_kind_created", "kind", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    amount_sen: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by: Mapped[int | None] = mapped_column(BigInteger)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    actor_telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConversationState(Base):
    """Where each user is in a multi-step conversation (aiogram FSM), so restarts keep it."""

    __tablename__ = "conversation_states"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(128))
    data: Mapped[str] = mapped_column(Text, default="{}")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AppSetting(Base):
    """Small key/value facts of this installation (e.g. the generated secret key)."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Voucher(Base):
    """A reward the customer holds (a full stamp card, later birthday and festival offers)."""

    __tablename__ = "vouchers"
    __table_args__ = (Index("ix_vouchers_customer_used", "customer_id", "used_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    title_en: Mapped[str] = mapped_column(String(255))
    title_ms: Mapped[str] = mapped_column(String(255))
    # Random id for the voucher's own QR code (a `v_` payload) when it is redeemed at the counter.
    code: Mapped[str] = mapped_column(String(32), unique=True)
    # What issued it, e.g. the ledger key of the claim that filled the card: one voucher per card.
    source_key: Mapped[str | None] = mapped_column(String(96), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by: Mapped[int | None] = mapped_column(BigInteger)


class Campaign(Base):
    """Something sent to many customers: a broadcast, later birthday/festival offers, surveys.

    `key` names it uniquely (for example `broadcast:<n>` or `birthday:2027`), and each customer
    has at most one delivery per campaign, so reruns never send a second copy.
    """

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(
            "status IN ('scheduled', 'sending', 'done', 'cancelled')", name="status_known"
        ),
        Index("ix_campaigns_status_scheduled_at", "status", "scheduled_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    promotional: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16))
    audience: Mapped[str] = mapped_column(String(32))
    text_en: Mapped[str] = mapped_column(Text)
    text_ms: Mapped[str | None] = mapped_column(Text)
    photo: Mapped[str | None] = mapped_column(String(255))
    button_kind: Mapped[str | None] = mapped_column(String(8))  # "url" | "rewards" | "survey"
    button_text: Mapped[str | None] = mapped_column(String(64))
    button_url: Mapped[str | None] = mapped_column(String(512))
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    total: Mapped[int] = mapped_column(Integer, default=0)
    # A survey invitation (kind "survey", key "survey:<id>:<period>"): the survey it opens.
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    # The owner's live progress message, and whether the final report went out.
    progress_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    progress_message_id: Mapped[int | None] = mapped_column(Integer)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Delivery(Base):
    """The outbox: one row per campaign × customer. Claimed (`sending`) before the send, so a
    row is never sent twice; a row still `sending` after a crash becomes `unknown`."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id"),
        CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'blocked', 'unknown', 'skipped', 'cancelled')",
            name="status_known",
        ),
        # The sender's claim query: due pending rows in order.
        Index("ix_deliveries_status_due", "status", "next_attempt_at"),
        Index("ix_deliveries_campaign_status", "campaign_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(String(255))


# Segment filters of broadcasts (declared here so the customers table itself stays untouched).
Index("ix_customers_marketing_status", Customer.marketing_opt_in, Customer.status)
Index("ix_customers_joined_at", Customer.joined_at)


class PointLot(Base):
    """Points of one earn, spendable until `expires_at`; FIFO by expiry. Sum of `remaining` == balance."""

    __tablename__ = "point_lots"
    __table_args__ = (
        CheckConstraint("remaining >= 0", name="remaining_not_negative"),
        CheckConstraint("remaining <= points", name="remaining_within_points"),
        Index("ix_point_lots_customer_expires", "customer_id", "expires_at"),
        Index("ix_point_lots_expires_open", "expires_at", "remaining"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"))
    # The ledger entry that earned the points (NULL for balances carried over by the migration).
    ledger_id: Mapped[int | None] = mapped_column(ForeignKey("ledger.id", ondelete="RESTRICT"))
    points: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer)
    earned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # NULL: never expires (the program's points.expiry_months = 0).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Reward(Base):
    """An item of the owner's catalogue. `reserved` counts pending and confirmed redemptions."""

    __tablename__ = "rewards"
    __table_args__ = (
        CheckConstraint("cost > 0", name="cost_positive"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("stock IS NULL OR reserved <= stock", name="stock_not_oversold"),
        Index("ix_rewards_active", "active"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name_en: Mapped[str] = mapped_column(String(128))
    name_ms: Mapped[str] = mapped_column(String(128))
    description_en: Mapped[str] = mapped_column(String(1000), default="")
    description_ms: Mapped[str] = mapped_column(String(1000), default="")
    cost: Mapped[int] = mapped_column(Integer)
    photo_file_id: Mapped[str | None] = mapped_column(String(255))
    stock: Mapped[int | None] = mapped_column(Integer)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    per_customer_limit: Mapped[int | None] = mapped_column(Integer)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    min_tier: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Redemption(Base):
    """A reward reserved by a customer: pending -> confirmed | cancelled | expired, each once."""

    __tablename__ = "redemptions"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'confirmed', 'cancelled', 'expired')", name="status_known"),
        Index("ix_redemptions_customer_reward", "customer_id", "reward_id", "status"),
        Index("ix_redemptions_status_expires", "status", "expires_at"),
        Index("ix_redemptions_reward_status", "reward_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id", ondelete="RESTRICT"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"))
    # Random id behind the redemption QR (an `r_` payload).
    code: Mapped[str] = mapped_column(String(32), unique=True)
    points: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # The lots the points came from, as JSON [[lot id, points], ...], so a release restores them exactly.
    lots: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_by: Mapped[int | None] = mapped_column(BigInteger)


# --------------------------------------------------------------------------- feedback (issue 7)

# Visits and points per month are aggregated by kind over a time range: a covering index,
# so the dashboard never reads the ledger table itself.
Index("ix_ledger_kind_created", LedgerEntry.kind, LedgerEntry.created_at, LedgerEntry.customer_id, LedgerEntry.delta)


class Survey(Base):
    """A feedback survey. Monthly ones can be completed once per local calendar month."""

    __tablename__ = "surveys"
    __table_args__ = (
        CheckConstraint("audience IN ('all', 'recent', 'tier')", name="audience_known"),
        CheckConstraint("recurrence IN ('once', 'monthly')", name="recurrence_known"),
        CheckConstraint("reward_points >= 0", name="reward_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title_en: Mapped[str] = mapped_column(String(128))
    title_ms: Mapped[str] = mapped_column(String(128))
    reward_points: Mapped[int] = mapped_column(Integer, default=0)
    audience: Mapped[str] = mapped_column(String(16), default="all")
    # "recent" audience: customers with a visit in this many days.
    recent_days: Mapped[int] = mapped_column(Integer, default=30)
    # "tier" audience: customers in this tier (program `[tiers]` code; NULL tier = the first).
    tier: Mapped[str | None] = mapped_column(String(16))
    recurrence: Mapped[str] = mapped_column(String(16), default="once")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SurveyQuestion(Base):
    __tablename__ = "survey_questions"
    __table_args__ = (
        CheckConstraint("kind IN ('rating', 'nps', 'choice', 'text')", name="kind_known"),
        UniqueConstraint("survey_id", "position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(String(8))
    text_en: Mapped[str] = mapped_column(String(512))
    text_ms: Mapped[str] = mapped_column(String(512))
    # Single choice: a JSON list of {"en": ..., "ms": ...}.
    options: Mapped[str | None] = mapped_column(Text)
    optional: Mapped[bool] = mapped_column(Boolean, default=False)


class SurveyResponse(Base):
    """One customer's answers to one survey in one period ("once" or "YYYY-MM")."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        UniqueConstraint("survey_id", "customer_id", "period"),
        Index("ix_survey_responses_completed_at", "completed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(8))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SurveyAnswer(Base):
    __tablename__ = "survey_answers"
    __table_args__ = (
        UniqueConstraint("response_id", "question_id"),
        Index("ix_survey_answers_question_id", "question_id"),
        Index("ix_survey_answers_answered_at", "answered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("survey_responses.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column(ForeignKey("survey_questions.id", ondelete="CASCADE"))
    # Denormalised so the dashboard aggregates ratings without joining the questions.
    kind: Mapped[str] = mapped_column(String(8))
    score: Mapped[int | None] = mapped_column(SmallInteger)
    choice: Mapped[int | None] = mapped_column(SmallInteger)
    text: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Suggestion(Base):
    """The suggestion box: a customer's idea; the owner can adopt it for bonus points."""

    __tablename__ = "suggestions"
    __table_args__ = (
        CheckConstraint("status IN ('new', 'adopted')", name="status_known"),
        Index("ix_suggestions_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), default="new")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    adopted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    adopted_by: Mapped[int | None] = mapped_column(BigInteger)


class OfferSetting(Base):
    """The owner's changes to an automatic offer in /admin → Automations; `key` is "birthday",
    "winback", "festival" (on/off and texts) or "festival:<slug>" (on/off of one festival).
    NULL columns keep the program's value."""

    __tablename__ = "offer_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool | None] = mapped_column(Boolean)
    message_en: Mapped[str | None] = mapped_column(Text)
    message_ms: Mapped[str | None] = mapped_column(Text)
    voucher_en: Mapped[str | None] = mapped_column(String(255))
    voucher_ms: Mapped[str | None] = mapped_column(String(255))
    changed_by: Mapped[int | None] = mapped_column(BigInteger)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Reminders of vouchers about to expire (declared here so the vouchers table itself stays untouched).
Index("ix_vouchers_expires_at", Voucher.expires_at)
