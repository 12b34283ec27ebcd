"""The one exception tree of idflow, with the wire codes errors carry to the API.

Every error idflow raises on purpose derives from `IdflowError`. Errors that can
reach a caller of the management API declare their Descope-style `error_code` and
HTTP `status` once, as class attributes, so the API layer renders them without a
lookup table::

    IdflowError
    ├── ConfigurationError            bad settings or environment
    ├── StoreError                    the database failed or is not ready
    │   ├── StoreBusy                 another process kept SQLite's write lock
    │   └── SchemaOutdated            migrations are pending
    ├── FlowDefinitionError           a flow document or file does not validate
    │   └── TemplateError             a `{{ path }}` template is malformed
    ├── ConditionError                a condition operator or predicate is unusable
    ├── ConversionError               an End output does not fit its declared type
    ├── ContextError                  a value cannot be written at a context path
    ├── LeaseLost                     a worker no longer holds the delivery it ran
    ├── ConnectorError        E123001     a connector call failed; the step's code
    │   ├── OutboundRefused   E123003     the destination address is not allowed
    │   └── ConnectorTimedOut E123004     the call took longer than its timeout
    └── ApiError                      anything answered over the wire
        ├── BadRequest                E011001 400  malformed JSON or body
        │   └── InvalidArgument       E011003 400  a field has the wrong value or type
        │       └── FlowInvalid       E102106 400  an imported flow does not validate
        ├── Unauthorized              E011101 401  bearer missing, malformed or wrong
        ├── Forbidden                 E011102 403  the key may not make this call
        ├── NotFound                  E011104 404  generic missing entity
        │   ├── FlowNotFound          E102101 404
        │   ├── UserNotFound          E112102 404
        │   ├── TenantNotFound        E114102 404
        │   ├── ProjectNotFound       E011105 404
        │   ├── KeyNotFound           E011106 404  no live management key with this id
        │   ├── ConnectorNotFound     E123101 404
        │   ├── RunNotFound           E102104 404
        │   ├── DeliveryNotFound      E102107 404
        │   └── EventNotFound         E102108 404
        ├── FlowDisabled              E102105 409  the flow is switched off
        ├── Conflict                  E011109 409
        │   ├── UserAlreadyExists     E062107 409
        │   ├── TenantAlreadyExists   E114107 409
        │   ├── ConnectorExists       E123107 409
        │   └── LastFullKey           E011110 409  revoking it would lock the API out
        ├── PayloadTooLarge           E011113 413
        ├── RateLimited               E130429 429
        └── RunFailed                 E102001 400  a flow run ended in failure
            ├── StepFailed            E102002 400  an action or condition failed
            └── RunLimitExceeded      E102003 400  steps, time or size limits

The codes follow Descope's `E` plus six digits form; the ones Descope publishes
(E011001-E011004, E062107, E112102, E130429) keep Descope's meaning and every
other one is idflow's own, listed in docs/api.md.
"""

from __future__ import annotations

from typing import Any, ClassVar


class IdflowError(Exception):
    """Base of every error idflow raises on purpose."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or type(self).__name__).strip()
        super().__init__(self.message)


class ConfigurationError(IdflowError):
    """A setting or the environment is not usable as given."""


class StoreError(IdflowError):
    """The database could not carry out a store operation."""


class StoreBusy(StoreError):
    """Another process held SQLite's write lock past the busy timeout; the transaction rolled back."""


class SchemaOutdated(StoreError):
    """The database schema is older than this idflow; run `idflow migrate`."""


class FlowDefinitionError(IdflowError):
    """A flow document failed validation.

    Attributes:
        problems: every problem found, each a `flows.validation.Problem`.
    """

    def __init__(self, message: str, problems: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


class TemplateError(FlowDefinitionError):
    """A `{{ path }}` template is malformed: unclosed, empty or with a bad path."""


class ConditionError(IdflowError):
    """A condition names an unknown operator or a predicate it cannot use."""


class ConversionError(IdflowError):
    """An End task output cannot be converted to its declared type."""


class ContextError(IdflowError):
    """A value cannot be written at a dotted path of the flow context."""


class LeaseLost(IdflowError):
    """The worker's lease on a delivery lapsed and another worker took it over.

    Raised by the fenced delivery updates; the worker's transaction rolls back,
    so the run it was finishing leaves no effect and the new owner runs it.
    """


class ConnectorError(IdflowError):
    """A connector call failed: unreachable, refused, or answered with an error.

    Raised by connector steps; the class's `error_code` becomes the step's code,
    and the message never holds a secret or a request or response body.
    """

    error_code: ClassVar[str] = "E123001"


class OutboundRefused(ConnectorError):
    """The destination is a loopback, private, link-local or metadata address."""

    error_code: ClassVar[str] = "E123003"


class ConnectorTimedOut(ConnectorError):
    """The connector call took longer than its timeout."""

    error_code: ClassVar[str] = "E123004"


class ApiError(IdflowError):
    """An error answered to a management API caller with a Descope-style body."""

    error_code: ClassVar[str] = "E011001"
    status: ClassVar[int] = 400
    description: ClassVar[str] = "Bad request"

    def to_body(self) -> dict[str, Any]:
        """Render the Descope error body: code, generic description, detail."""
        return {
            "errorCode": self.error_code,
            "errorDescription": self.description,
            "errorMessage": self.message,
        }


class BadRequest(ApiError):
    """The request is malformed."""

    error_code, status, description = "E011001", 400, "Bad request"


class InvalidArgument(BadRequest):
    """A request field is missing or has a value of the wrong kind."""

    error_code, status, description = "E011003", 400, "Request is invalid"


class FlowInvalid(InvalidArgument):
    """An imported flow document does not validate; nothing was saved.

    Attributes:
        problems: every problem found, each with `to_dict()`.
    """

    error_code, description = "E102106", "Flow definition is invalid"

    def __init__(self, message: str, problems: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems

    def to_body(self) -> dict[str, Any]:
        """Render the error body plus `problems`, one entry per problem found."""
        body: dict[str, Any] = dict(super().to_body())
        body["problems"] = [problem.to_dict() for problem in self.problems]
        return body


class Unauthorized(ApiError):
    """The management bearer is missing, malformed or does not match the project."""

    error_code, status, description = "E011101", 401, "Unauthorized"


class Forbidden(ApiError):
    """The management key is not allowed to make this call."""

    error_code, status, description = "E011102", 403, "Forbidden"


class NotFound(ApiError):
    """The requested entity does not exist."""

    error_code, status, description = "E011104", 404, "Not found"


class FlowNotFound(NotFound):
    """No flow with this id exists in the project."""

    error_code, description = "E102101", "Flow not found"


class UserNotFound(NotFound):
    """No user with this login id or user id exists in the project."""

    error_code, description = "E112102", "User not found"


class TenantNotFound(NotFound):
    """No tenant with this id exists in the project."""

    error_code, description = "E114102", "Tenant not found"


class ProjectNotFound(NotFound):
    """No project with this id exists."""

    error_code, description = "E011105", "Project not found"


class KeyNotFound(NotFound):
    """No live management key with this id exists in the project."""

    error_code, description = "E011106", "Management key not found"


class RunNotFound(NotFound):
    """No run or execution with this id exists in the project."""

    error_code, description = "E102104", "Execution not found"


class DeliveryNotFound(NotFound):
    """No delivery with this id exists in the project."""

    error_code, description = "E102107", "Delivery not found"


class EventNotFound(NotFound):
    """No audit event with this id exists in the project."""

    error_code, description = "E102108", "Audit event not found"


class ConnectorNotFound(NotFound):
    """No connector with this name exists in the project."""

    error_code, description = "E123101", "Connector not found"


class FlowDisabled(ApiError):
    """The flow is disabled; enable it before running it."""

    error_code, status, description = "E102105", 409, "Flow is disabled"


class Conflict(ApiError):
    """The request conflicts with what is already stored."""

    error_code, status, description = "E011109", 409, "Conflict"


class UserAlreadyExists(Conflict):
    """A user with this login id already exists in the project."""

    error_code, description = "E062107", "User already exists"


class TenantAlreadyExists(Conflict):
    """A tenant with this id already exists in the project."""

    error_code, description = "E114107", "Tenant already exists"


class LastFullKey(Conflict):
    """The key is the project's last live full key; revoking it would lock the API out."""

    error_code, description = "E011110", "Last full management key"


class ConnectorExists(Conflict):
    """A connector with this name already exists in the project."""

    error_code, description = "E123107", "Connector already exists"


class PayloadTooLarge(ApiError):
    """The request body is larger than the configured limit."""

    error_code, status, description = "E011113", 413, "Payload too large"


class RateLimited(ApiError):
    """Too many requests for this project and endpoint family; retry later.

    Attributes:
        retry_after_seconds: whole seconds to wait, sent as `Retry-After`.
    """

    error_code, status, description = "E130429", 429, "Rate limit exceeded"

    def __init__(
        self, message: str | None = None, retry_after_seconds: int = 1
    ) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class RunFailed(ApiError):
    """The flow run ended in failure.

    Attributes:
        run_id: the failed run, so the caller can look up its trace.
        task_id: the task that failed, when one did.
    """

    # A failed run is a business outcome, answered 400 and never 503: the Python
    # SDK replays 503 up to three times, which would repeat the run's effects.
    error_code, status, description = "E102001", 400, "Flow run failed"

    def __init__(
        self,
        message: str | None = None,
        *,
        run_id: str | None = None,
        task_id: str | None = None,
        step_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.task_id = task_id
        self.step_code = step_code

    def to_body(self) -> dict[str, str]:
        """Render the error body with the failing step's own code, when known."""
        body = super().to_body()
        if self.step_code:
            body["errorCode"] = self.step_code
        return body


class StepFailed(RunFailed):
    """An action or condition of the flow failed."""

    error_code, description = "E102002", "Flow step failed"


class RunLimitExceeded(RunFailed):
    """The run went past a limit on steps, time, input or output size."""

    error_code, description = "E102003", "Flow run limit exceeded"


def error_named(name: str) -> type[IdflowError]:
    """The class of the tree with this name, for an error another process raised.

    A writer process of `idflow serve` makes runs and sends back the errors
    they refused with by name and message (`services.record_writer`); the
    server raises the same class, so the API answers as if it had run them.

    Raises:
        KeyError: no class of the tree has that name.
    """
    pending: list[type[IdflowError]] = [IdflowError]
    while pending:
        kind = pending.pop()
        if kind.__name__ == name:
            return kind
        pending.extend(kind.__subclasses__())
    raise KeyError(name)
