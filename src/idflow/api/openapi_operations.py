"""What the OpenAPI document says of each route: access, body, query and answer.

One entry per method and path of `idflow.api.app.ROUTES`, in the same order; a
unit test fails for a route without an entry and for an entry without a route,
so a new endpoint cannot ship undescribed. The summary is written here, the
longer description is the handler's docstring.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel

from idflow.api import (
    audit,
    connectors,
    deliveries,
    flows,
    keys,
    tenants,
    user_models,
    user_search,
    user_updates,
    users,
)
from idflow.store.records import KeyScope

# Who may call: a key of this scope (a full key may call anything), any key
# of the project, or anyone.
FULL, READ, RUN = KeyScope.FULL, KeyScope.READ_ONLY, KeyScope.RUN_FLOWS
ANY_KEY = "any"
NO_KEY = "none"


@dataclass(frozen=True, slots=True)
class Operation:
    """The description of one method on one path.

    Attributes:
        access: the key scope the call needs, `ANY_KEY` or `NO_KEY`.
        answer: the component schema of the 200 answer.
        query: query parameters, each mapped to whether it is required.
        errors: statuses the call may answer beyond those every call may
            (400 and 413 with a body, 401, 403 and 429 with a key, 500).
    """

    summary: str
    access: str
    answer: str
    body: type[BaseModel] | None = None
    query: Mapping[str, bool] = field(default_factory=dict)
    errors: tuple[int, ...] = ()


_NONE = (404,)
_CLASH = (404, 409)

OPERATIONS: dict[str, Operation] = {
    # Flows.
    "POST /v1/mgmt/flow/run": Operation(
        "Run a flow and answer its outputs",
        RUN,
        "RunAnswer",
        flows.RunBody,
        errors=(404, 409),
    ),
    "POST /v1/mgmt/flow/async/run": Operation(
        "Accept a run and answer its execution id at once",
        RUN,
        "AsyncRunAnswer",
        flows.RunBody,
        errors=(404, 409),
    ),
    "POST /v1/mgmt/flow/async/result": Operation(
        "Answer an accepted run's state, output or error",
        RUN,
        "AsyncResultAnswer",
        flows.AsyncResultBody,
        errors=_NONE,
    ),
    "POST /v1/mgmt/flow/list": Operation(
        "List flows", READ, "FlowListAnswer", flows.FlowListBody
    ),
    "POST /v1/mgmt/flow/delete": Operation(
        "Delete flows", FULL, "Empty", flows.FlowIdsBody, errors=_NONE
    ),
    "POST /v1/mgmt/flow/export": Operation(
        "Export a flow (v1 envelope)",
        READ,
        "FlowV1Answer",
        flows.FlowIdBody,
        errors=_NONE,
    ),
    "POST /v1/mgmt/flow/import": Operation(
        "Import a flow (v1 envelope)", FULL, "FlowV1Answer", flows.ImportV1Body
    ),
    "POST /v2/mgmt/flow/export": Operation(
        "Export a flow (v2 envelope)",
        READ,
        "FlowV2Answer",
        flows.FlowIdBody,
        errors=_NONE,
    ),
    "POST /v2/mgmt/flow/import": Operation(
        "Import a flow (v2 envelope)", FULL, "Empty", flows.ImportV2Body
    ),
    # Users.
    "POST /v1/mgmt/user/create": Operation(
        "Create a user", FULL, "UserAnswer", user_models.CreateUserBody, errors=_CLASH
    ),
    "POST /v1/mgmt/user/create/test": Operation(
        "Create a test user",
        FULL,
        "UserAnswer",
        user_models.CreateUserBody,
        errors=_CLASH,
    ),
    "POST /v1/mgmt/user/create/batch": Operation(
        "Create users", FULL, "CreatedUsersAnswer", user_models.CreateBatchBody
    ),
    "POST /v1/mgmt/user/update": Operation(
        "Replace a user", FULL, "UserAnswer", user_models.UpdateUserBody, errors=_CLASH
    ),
    "PATCH /v1/mgmt/user/patch": Operation(
        "Change some fields of a user",
        FULL,
        "UserAnswer",
        user_models.PatchUserBody,
        errors=_CLASH,
    ),
    "PATCH /v1/mgmt/user/patch/batch": Operation(
        "Change some fields of users",
        FULL,
        "PatchedUsersAnswer",
        user_models.PatchBatchBody,
    ),
    "GET /v1/mgmt/user": Operation(
        "Load a user",
        READ,
        "UserAnswer",
        query={"loginId": False, "userId": False},
        errors=_NONE,
    ),
    "POST /v1/mgmt/users/load": Operation(
        "Load users by user id", READ, "UsersAnswer", users.UserIdsBody
    ),
    "POST /v2/mgmt/user/search": Operation(
        "Search users", READ, "UserSearchAnswer", user_search.SearchUsersBody
    ),
    "POST /v2/mgmt/user/search/test": Operation(
        "Search test users", READ, "UserSearchAnswer", user_search.SearchUsersBody
    ),
    "POST /v1/mgmt/user/delete": Operation(
        "Delete a user", FULL, "Empty", users.DeleteUserBody, errors=_NONE
    ),
    "POST /v1/mgmt/user/delete/batch": Operation(
        "Delete users", FULL, "Empty", users.UserIdsBody, errors=_NONE
    ),
    "DELETE /v1/mgmt/user/test/delete/all": Operation(
        "Delete every test user", FULL, "Empty"
    ),
    "POST /v1/mgmt/user/logout": Operation(
        "Log a user out", FULL, "Empty", users.DeleteUserBody, errors=_NONE
    ),
    "POST /v1/mgmt/user/update/status": Operation(
        "Enable or disable a user",
        FULL,
        "UserAnswer",
        user_updates.StatusBody,
        errors=_NONE,
    ),
    "POST /v1/mgmt/user/update/loginid": Operation(
        "Change a login id", FULL, "UserAnswer", user_updates.LoginIdBody, errors=_CLASH
    ),
    "POST /v1/mgmt/user/update/email": Operation(
        "Change the email", FULL, "UserAnswer", user_updates.EmailBody, errors=_CLASH
    ),
    "POST /v1/mgmt/user/update/phone": Operation(
        "Change the phone", FULL, "UserAnswer", user_updates.PhoneBody, errors=_CLASH
    ),
    "POST /v1/mgmt/user/update/name": Operation(
        "Change the names", FULL, "UserAnswer", user_updates.NameBody, errors=_NONE
    ),
    "POST /v1/mgmt/user/update/picture": Operation(
        "Change the picture", FULL, "UserAnswer", user_updates.PictureBody, errors=_NONE
    ),
    "POST /v1/mgmt/user/update/customAttribute": Operation(
        "Set a custom attribute",
        FULL,
        "UserAnswer",
        user_updates.AttributeBody,
        errors=_NONE,
    ),
    "POST /v1/mgmt/user/update/role/set": Operation(
        "Replace roles", FULL, "UserAnswer", user_updates.RolesBody, errors=_NONE
    ),
    "POST /v2/mgmt/user/update/role/add": Operation(
        "Add roles", FULL, "UserAnswer", user_updates.RolesBody, errors=_NONE
    ),
    "POST /v1/mgmt/user/update/role/remove": Operation(
        "Remove roles", FULL, "UserAnswer", user_updates.RolesBody, errors=_NONE
    ),
    "POST /v1/mgmt/user/update/tenant/add": Operation(
        "Add a user to a tenant",
        FULL,
        "UserAnswer",
        user_updates.TenantBody,
        errors=_NONE,
    ),
    "POST /v1/mgmt/user/update/tenant/remove": Operation(
        "Remove a user from a tenant",
        FULL,
        "UserAnswer",
        user_updates.TenantBody,
        errors=_NONE,
    ),
    # Tenants.
    "POST /v1/mgmt/tenant/create": Operation(
        "Create a tenant", FULL, "TenantIdAnswer", tenants.TenantBody, errors=(409,)
    ),
    "POST /v1/mgmt/tenant/update": Operation(
        "Replace a tenant", FULL, "Empty", tenants.TenantUpdateBody, errors=_CLASH
    ),
    "PATCH /v1/mgmt/tenant/patch": Operation(
        "Change some fields of a tenant",
        FULL,
        "Empty",
        tenants.TenantPatchBody,
        errors=_CLASH,
    ),
    "POST /v1/mgmt/tenant/delete": Operation(
        "Delete a tenant", FULL, "Empty", tenants.TenantIdBody, errors=_NONE
    ),
    "GET /v1/mgmt/tenant": Operation(
        "Load a tenant", READ, "Tenant", query={"id": True}, errors=_NONE
    ),
    "GET /v1/mgmt/tenant/all": Operation("Load every tenant", READ, "TenantsAnswer"),
    "POST /v1/mgmt/tenant/search": Operation(
        "Search tenants", READ, "TenantsAnswer", tenants.TenantSearchBody
    ),
    # Audit.
    "POST /v1/mgmt/audit/search": Operation(
        "Search the audit trail", READ, "AuditSearchAnswer", audit.AuditSearchBody
    ),
    "POST /v1/mgmt/audit/event": Operation(
        "Record a custom audit event", FULL, "Empty", audit.AuditEventBody
    ),
    # idflow's own key administration.
    "POST /v1/mgmt/idflow/key/create": Operation(
        "Create a management key", FULL, "KeyCreatedAnswer", keys.CreateKeyBody
    ),
    "GET /v1/mgmt/idflow/key/all": Operation(
        "List the management keys", FULL, "KeysAnswer"
    ),
    "POST /v1/mgmt/idflow/key/revoke": Operation(
        "Revoke a management key", FULL, "KeyAnswer", keys.KeyIdBody, errors=_CLASH
    ),
    # idflow's own connector administration.
    "POST /v1/mgmt/idflow/connector/create": Operation(
        "Create a connector",
        FULL,
        "ConnectorAnswer",
        connectors.CreateBody,
        errors=(409,),
    ),
    "POST /v1/mgmt/idflow/connector/update": Operation(
        "Change a connector",
        FULL,
        "ConnectorAnswer",
        connectors.UpdateBody,
        errors=_NONE,
    ),
    "POST /v1/mgmt/idflow/connector/delete": Operation(
        "Delete a connector", FULL, "Empty", connectors.NameBody, errors=_NONE
    ),
    "POST /v1/mgmt/idflow/connector/test": Operation(
        "Test a connector now",
        FULL,
        "ConnectorTestAnswer",
        connectors.TestBody,
        errors=_NONE,
    ),
    "GET /v1/mgmt/idflow/connector": Operation(
        "Load a connector", READ, "ConnectorAnswer", query={"name": True}, errors=_NONE
    ),
    "GET /v1/mgmt/idflow/connector/all": Operation(
        "List the connectors", READ, "ConnectorsAnswer"
    ),
    # idflow's own event deliveries.
    "POST /v1/mgmt/idflow/delivery/search": Operation(
        "Search event deliveries",
        READ,
        "DeliveriesAnswer",
        deliveries.DeliverySearchBody,
    ),
    "GET /v1/mgmt/idflow/delivery": Operation(
        "Load a delivery", READ, "DeliveryAnswer", query={"id": True}, errors=_NONE
    ),
    "POST /v1/mgmt/idflow/delivery/redrive": Operation(
        "Redrive dead-lettered deliveries, or count them",
        FULL,
        "RedriveAnswer",
        deliveries.RedriveBody,
    ),
    "GET /v1/mgmt/idflow/event": Operation(
        "Explain which flows an event started, and why not",
        READ,
        "EventReportAnswer",
        query={"id": True},
        errors=_NONE,
    ),
    # Process.
    "GET /v1/mgmt/license": Operation(
        "The rate limit tier, for the SDKs' handshake", ANY_KEY, "LicenseAnswer"
    ),
    "GET /health": Operation("Whether the process is up", NO_KEY, "HealthAnswer"),
    "GET /openapi.json": Operation("This document", NO_KEY, "OpenApiAnswer"),
}
