"""Errors of the survey and suggestion use cases; the bot maps each `code` to a message."""

from __future__ import annotations

from loyaltybot.domain.errors import DomainError


class SurveyNotFound(DomainError):
    code = "survey_not_found"


class SurveyNotOpen(DomainError):
    """Closed, outside its active window, or not meant for this customer."""

    code = "survey_not_open"


class SurveyAlreadyCompleted(DomainError):
    code = "survey_already_completed"


class QuestionAlreadyAnswered(DomainError):
    """A button of an earlier question was pressed again; the current question is re-shown."""

    code = "question_already_answered"


class QuestionNotOptional(DomainError):
    code = "question_not_optional"


class SuggestionInvalid(DomainError):
    code = "suggestion_invalid"


class SuggestionLimit(DomainError):
    code = "suggestion_limit"


class SuggestionNotFound(DomainError):
    code = "suggestion_not_found"


class SuggestionAlreadyAdopted(DomainError):
    code = "suggestion_already_adopted"
