"""Stored entities as frozen values: what the store returns and accepts.

Records carry no behaviour beyond conversion to the shapes the Descope SDKs see;
services change them with `dataclasses.replace` and hand them back to the store.
Times are whole milliseconds since the epoch, the unit every table uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class UserStatus(StrEnum):
    """The status of a user, as Descope names it."""

    ENABLED = "enabled"
    DISABLED = "disabled"
    INVITED = "invited"


class KeyScope(StrEnum):
    """What a management key may do."""

    FULL = "full"
    READ_ONLY = "read-only"
    RUN_FLOWS = "run-flows"


class AuditType(StrEnum):
    """The severity of an audit event, in the lower case event creation accepts."""

    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class RunStatus(StrEnum):
    """Where a run stands."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class RunTrigger(StrEnum):
    """How a run was started."""

    API = "api"
    EVENT = "event"
    CLI = "cli"
    # Asked for with `preview` (API) or `--preview` (CLI): recorded, never kept.
    PREVIEW = "preview"


@dataclass(frozen=True, slots=True)
class Project:
    """A project: the unit of isolation for users, tenants, flows and keys."""

    project_id: str
    name: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class ManagementKey:
    """A management key; only the SHA-256 hash of its secret is ever stored."""

    key_id: str
    project_id: str
    name: str
    scope: KeyScope
    key_hash: str
    created_ms: int
    revoked_ms: int | None = None


@dataclass(frozen=True, slots=True)
class UserTenant:
    """A user's membership of a tenant, with the roles held there."""

    tenant_id: str
    role_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class User:
    """A user of a project."""

    project_id: str
    user_id: str
    login_ids: tuple[str, ...]
    created_ms: int
    modified_ms: int
    status: UserStatus = UserStatus.ENABLED
    email: str | None = None
    phone: str | None = None
    name: str | None = None
    given_name: str | None = None
    middle_name: str | None = None
    family_name: str | None = None
    verified_email: bool = False
    verified_phone: bool = False
    picture: str | None = None
    test: bool = False
    custom_attributes: Mapping[str, Any] = field(default_factory=dict)
    role_names: tuple[str, ...] = ()
    tenants: tuple[UserTenant, ...] = ()
    last_login_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Tenant:
    """A tenant of a project."""

    project_id: str
    tenant_id: str
    name: str
    created_ms: int
    modified_ms: int
    self_provisioning_domains: tuple[str, ...] = ()
    custom_attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Consent:
    """Scopes a user granted to an app or OAuth client."""

    project_id: str
    consent_id: str
    user_id: str
    app_id: str
    scopes: tuple[str, ...]
    granted_by: str
    created_ms: int
    tenant_id: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audit record: a change idflow made or an event a backend posted.

    Attributes:
        custom: true for events posted by a backend (free action names); false
            for idflow's own, whose action is a `AuditAction` value.
        origin_event_id: the first event of the causal chain this one belongs to,
            or None when the event was not caused by a run.
        depth: how many runs stand between the origin event and this one.
        run_id: the run whose step caused this event, if any.
    """

    project_id: str
    event_id: str
    occurred_ms: int
    action: str
    type: AuditType
    actor_id: str
    custom: bool = False
    user_id: str | None = None
    tenant_id: str | None = None
    external_ids: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    device: str | None = None
    method: str | None = None
    geo: str | None = None
    remote_address: str | None = None
    origin_event_id: str | None = None
    depth: int = 0
    run_id: str | None = None


@dataclass(frozen=True, slots=True)
class FlowRecord:
    """A flow's head: its current version and its switches."""

    project_id: str
    flow_id: str
    name: str
    description: str
    current_version: int
    disabled: bool
    created_ms: int
    modified_ms: int


@dataclass(frozen=True, slots=True)
class FlowVersion:
    """One immutable saved version of a flow: the Descope v2 document as saved."""

    project_id: str
    flow_id: str
    version: int
    document: Mapping[str, Any]
    created_ms: int
    note: str | None = None


# Not frozen, unlike the other records: the API makes one for every run it
# answers, on the event loop, and a frozen dataclass's `__init__` sets each of
# its 13 fields through `object.__setattr__`: 2.8 against 0.4 microseconds a
# run (bench/RESULTS.md, 2026-12-04 afternoon). Nothing changes a run once made;
# `dataclasses.replace` makes the changed copy where one is needed.
@dataclass(slots=True)
class Run:
    """One execution of a flow version, with its inputs, outcome and trace."""

    project_id: str
    run_id: str
    flow_id: str
    flow_version: int
    trigger: RunTrigger
    status: RunStatus
    started_ms: int
    inputs: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Any] | None = None
    error: Mapping[str, Any] | None = None
    trace: tuple[Mapping[str, Any], ...] = ()
    finished_ms: int | None = None
    triggering_event_id: str | None = None


@dataclass(frozen=True, slots=True)
class RunCheckpoint:
    """Where a run stood at its last connector call, stored with that call's commit.

    Attributes:
        task_id: the connector step to run again when the run resumes.
        context: the run's context just before that step, unredacted.
        trace: the trace entries of the steps before it.
        saved_ms: when the checkpoint committed.
    """

    project_id: str
    run_id: str
    flow_id: str
    flow_version: int
    task_id: str
    context: Mapping[str, Any]
    trace: tuple[Mapping[str, Any], ...]
    saved_ms: int


class ConnectorType(StrEnum):
    """The kinds of connector a project may configure."""

    HTTP = "http"
    SMTP = "smtp"
    SLACK = "slack"
    TEAMS = "teams"
    SQL = "sql"


@dataclass(frozen=True, slots=True)
class Connector:
    """A named connector of a project: its settings and its encrypted secrets.

    Attributes:
        settings: the non-secret configuration, validated for its type.
        secrets: the secrets as one AES-GCM ciphertext of their JSON object, or
            None when the connector has none; only `connectors.secrets` reads it.
        key_id: the id of the key `secrets` is encrypted under.
        secret_names: the names of the secrets set, shown where values never are.
    """

    project_id: str
    connector_id: str
    name: str
    type: ConnectorType
    created_ms: int
    modified_ms: int
    settings: Mapping[str, Any] = field(default_factory=dict)
    secrets: str | None = None
    key_id: str | None = None
    secret_names: tuple[str, ...] = ()


class DeliveryStatus(StrEnum):
    """Where the delivery of one event to one flow stands.

    `pending` waits for a worker (from `available_ms` on), `running` is claimed
    under a lease, and the other three are final: `done` ran the flow to
    completion, `dead` used up its attempts, `skipped` never ran, for the
    reason the delivery records.
    """

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"
    SKIPPED = "skipped"


class SkipReason(StrEnum):
    """Why a delivery was recorded as `skipped` instead of running its flow."""

    LOOP = "loop"
    FLOW_DISABLED = "flow_disabled"
    FLOW_DELETED = "flow_deleted"
    TRIGGER_REMOVED = "trigger_removed"
    EVENT_MISSING = "event_missing"


@dataclass(frozen=True, slots=True)
class Delivery:
    """The delivery of one audit event to one flow it triggers: an outbox row.

    An accepted asynchronous API run is queued the same way, with no event:
    its `run_id` is set from the start, and its run's checkpoint holds the
    inputs.

    Attributes:
        event_id: the event delivered; None for an accepted API run.
        attempts: how many times a worker has claimed it.
        available_ms: when a pending delivery may next be claimed.
        lease_owner: the worker holding it while running; kept once it ends,
            to say which worker finished it.
        lease_expires_ms: when a running delivery's claim lapses, after which
            another worker may take it.
        last_error: the error of the last failed attempt, if any.
        run_id: the run of the last attempt, completed or failed.
    """

    delivery_id: str
    project_id: str
    event_id: str | None
    flow_id: str
    status: DeliveryStatus
    created_ms: int
    available_ms: int
    attempts: int = 0
    lease_owner: str | None = None
    lease_expires_ms: int | None = None
    last_error: Mapping[str, Any] | None = None
    run_id: str | None = None
    skip_reason: SkipReason | None = None
    finished_ms: int | None = None
