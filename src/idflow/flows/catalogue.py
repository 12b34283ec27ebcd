"""The action catalogue: every action id a flow may name, with its arguments.

Descope publishes no ids for its management actions, so idflow names its own in
Descope's kebab-case style; these names are contract, documented in
docs/actions.md, and a unit test checks that every entry has an implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ArgumentKind(StrEnum):
    """The kind of value an argument takes once its templates are rendered."""

    STRING = "string"
    STRING_LIST = "string-list"
    OBJECT = "object"
    OUTPUTS = "outputs"
    NUMBER = "number"
    BOOLEAN = "boolean"
    JSON = "json"
    # SQL text: templates are refused, values travel as bound parameters.
    SQL = "sql"


@dataclass(frozen=True, slots=True)
class ArgumentSpec:
    """One argument of an action."""

    name: str
    kind: ArgumentKind
    required: bool
    description: str


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """One action: its id, what it does and the arguments it takes.

    Attributes:
        context_key: where the action's result lands in the context when the task
            gives no `contextKey` of its own; None when it returns nothing.
        requires_one_of: names of which at least one must be given.
    """

    action_id: str
    title: str
    description: str
    arguments: tuple[ArgumentSpec, ...] = ()
    context_key: str | None = None
    requires_one_of: tuple[str, ...] = ()

    def argument(self, name: str) -> ArgumentSpec | None:
        """Return the spec of an argument by name, if the action takes it."""
        for spec in self.arguments:
            if spec.name == name:
                return spec
        return None


def _arg(
    name: str, kind: ArgumentKind, description: str, *, required: bool = False
) -> ArgumentSpec:
    return ArgumentSpec(name, kind, required, description)


_S, _L, _O = ArgumentKind.STRING, ArgumentKind.STRING_LIST, ArgumentKind.OBJECT

_USER_ID = _arg(
    "userId",
    _S,
    "The user to act on, by user id or login id. When omitted: triggeringEvent.userId, "
    "then client.userId, then the user loaded earlier in the run.",
)
_TENANT_ID = _arg("tenantId", _S, "The tenant id.", required=True)

_CONNECTOR = _arg(
    "connector", _S, "The name of the project's connector to call.", required=True
)
_CONNECTOR_COMMON = (
    _CONNECTOR,
    _arg(
        "timeoutSeconds",
        ArgumentKind.NUMBER,
        "Seconds the call may take, retries included; default: the connector's.",
    ),
    _arg(
        "async",
        ArgumentKind.BOOLEAN,
        "Fire and forget: the run goes on at once and nothing enters the context.",
    ),
)
_CONNECTOR_ACTIONS = (
    ActionSpec(
        "http-connector",
        "Connector / HTTP request",
        "Send a request through an HTTP connector; the answer goes to `http.*`.",
        (
            *_CONNECTOR_COMMON,
            _arg("method", _S, "GET (default without body), POST, PUT, PATCH, DELETE."),
            _arg("path", _S, "Appended to the connector's base URL; starts with '/'."),
            _arg("query", _O, "Query parameters."),
            _arg("headers", _O, "Headers, added to the connector's own."),
            _arg("body", ArgumentKind.JSON, "The JSON body."),
        ),
        context_key="http",
    ),
    ActionSpec(
        "email-connector",
        "Connector / Send email",
        "Send an email through an SMTP connector.",
        (
            *_CONNECTOR_COMMON,
            _arg("to", _L, "Recipients.", required=True),
            _arg("cc", _L, "Copy recipients."),
            _arg("bcc", _L, "Blind copy recipients."),
            _arg("subject", _S, "The subject line.", required=True),
            _arg("text", _S, "The plain text body."),
            _arg("html", _S, "The HTML body."),
            _arg("replyTo", _S, "The Reply-To address."),
        ),
        requires_one_of=("text", "html"),
    ),
    ActionSpec(
        "slack-connector",
        "Connector / Slack message",
        "Post a message to a Slack incoming webhook.",
        (*_CONNECTOR_COMMON, _arg("text", _S, "The message.", required=True)),
    ),
    ActionSpec(
        "teams-connector",
        "Connector / Teams message",
        "Post a message to a Microsoft Teams incoming webhook.",
        (
            *_CONNECTOR_COMMON,
            _arg("text", _S, "The message.", required=True),
            _arg("title", _S, "A title above the message."),
        ),
    ),
    ActionSpec(
        "sql-connector",
        "Connector / SQL query",
        "Run a parameterised query through a SQL connector; rows go to `sql.*`.",
        (
            *_CONNECTOR_COMMON,
            _arg(
                "query",
                ArgumentKind.SQL,
                "SQL with :name placeholders; no templates.",
                required=True,
            ),
            _arg("parameters", _O, "Values bound to the placeholders by name."),
        ),
        context_key="sql",
    ),
)

ACTIONS: dict[str, ActionSpec] = {
    spec.action_id: spec
    for spec in (
        ActionSpec(
            "user-load",
            "User / Load",
            "Load a user into `user.*` by login id or user id.",
            (_arg("loginId", _S, "A login id or a user id.", required=True),),
            context_key="user",
        ),
        ActionSpec(
            "user-load-from-triggering-event",
            "User / Load from triggering event",
            "Load the user named by `triggeringEvent.userId` into `user.*`.",
            context_key="user",
        ),
        ActionSpec(
            "user-disable",
            "User / Disable",
            "Set the user's status to disabled.",
            (_USER_ID,),
            context_key="user",
        ),
        ActionSpec(
            "user-enable",
            "User / Enable",
            "Set the user's status to enabled.",
            (_USER_ID,),
            context_key="user",
        ),
        ActionSpec(
            "user-update",
            "User / Update",
            "Change the given fields of a user; fields not given stay as they are.",
            (
                _USER_ID,
                _arg("name", _S, "Display name."),
                _arg("givenName", _S, "Given name."),
                _arg("middleName", _S, "Middle name."),
                _arg("familyName", _S, "Family name."),
                _arg("email", _S, "Email address."),
                _arg("phone", _S, "Phone number, E.164."),
                _arg(
                    "customAttributes",
                    _O,
                    "Custom attributes to set, merged into the existing ones.",
                ),
            ),
            context_key="user",
            requires_one_of=(
                "name",
                "givenName",
                "middleName",
                "familyName",
                "email",
                "phone",
                "customAttributes",
            ),
        ),
        ActionSpec("user-delete", "User / Delete", "Delete the user.", (_USER_ID,)),
        ActionSpec(
            "user-add-tenant",
            "User / Add tenant",
            "Add the user to a tenant, optionally with roles there.",
            (
                _USER_ID,
                _TENANT_ID,
                _arg("roleNames", _L, "Roles to hold in the tenant."),
            ),
            context_key="user",
        ),
        ActionSpec(
            "user-remove-tenant",
            "User / Remove tenant",
            "Remove the user from a tenant.",
            (_USER_ID, _TENANT_ID),
            context_key="user",
        ),
        ActionSpec(
            "user-add-roles",
            "User / Add roles",
            "Add roles to the user, project-wide or in one tenant.",
            (
                _USER_ID,
                _arg("roleNames", _L, "Role names.", required=True),
                _arg("tenantId", _S, "Tenant to add the roles in."),
            ),
            context_key="user",
        ),
        ActionSpec(
            "user-remove-roles",
            "User / Remove roles",
            "Remove roles from the user, project-wide or in one tenant.",
            (
                _USER_ID,
                _arg("roleNames", _L, "Role names.", required=True),
                _arg("tenantId", _S, "Tenant to remove the roles in."),
            ),
            context_key="user",
        ),
        ActionSpec(
            "tenant-load",
            "Tenant / Load",
            "Load a tenant into `tenant.*`.",
            (_TENANT_ID,),
            context_key="tenant",
        ),
        ActionSpec(
            "tenant-update",
            "Tenant / Update",
            "Change the given fields of a tenant.",
            (
                _TENANT_ID,
                _arg("name", _S, "Tenant name."),
                _arg(
                    "selfProvisioningDomains",
                    _L,
                    "Self-provisioning domains, replacing the old list.",
                ),
                _arg(
                    "customAttributes",
                    _O,
                    "Custom attributes to set, merged into the existing ones.",
                ),
            ),
            context_key="tenant",
            requires_one_of=("name", "selfProvisioningDomains", "customAttributes"),
        ),
        ActionSpec(
            "consent-grant",
            "Consent / Grant",
            "Record that the user granted scopes to an app or OAuth client.",
            (
                _USER_ID,
                _arg("appId", _S, "The app or client id.", required=True),
                _arg("scopes", _L, "Granted scopes.", required=True),
                _arg("tenantId", _S, "The tenant the consent is scoped to."),
            ),
            context_key="consent",
        ),
        ActionSpec(
            "consent-revoke",
            "Consent / Revoke",
            "Delete the user's consents, for one app or for all apps.",
            (
                _USER_ID,
                _arg("appId", _S, "Only this app's consents; all when omitted."),
            ),
            context_key="consent",
        ),
        ActionSpec(
            "audit-generate-event",
            "Audit / Generate event",
            "Write a custom audit event, which may in turn trigger flows.",
            (
                _arg(
                    "action",
                    _S,
                    "The event's action name, e.g. 'inactive.user.disabled'.",
                    required=True,
                ),
                _arg("type", _S, "'info' (default), 'warn' or 'error'."),
                _arg("data", _O, "Data to attach; values may come from the context."),
                _arg("userId", _S, "The user the event concerns."),
                _arg("tenantId", _S, "The tenant the event concerns."),
            ),
        ),
        *_CONNECTOR_ACTIONS,
        ActionSpec(
            "end",
            "End",
            "Finish the run; the typed outputs become the API answer's `output`.",
            (_arg("outputs", ArgumentKind.OUTPUTS, "A list of {key, type, value}."),),
        ),
    )
}
