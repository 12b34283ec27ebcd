"""JSON Schemas of the management API's answers, for the OpenAPI document.

Request bodies are described by their pydantic models; answers are built by
the services as plain dicts, so their shapes are written here, next to one
another, and a unit test holds each entity's keys to what the services render.
"""

from __future__ import annotations

from typing import Any

JsonSchema = dict[str, Any]

STRING: JsonSchema = {"type": "string"}
INTEGER: JsonSchema = {"type": "integer"}
NUMBER: JsonSchema = {"type": "number"}
BOOLEAN: JsonSchema = {"type": "boolean"}
OBJECT: JsonSchema = {"type": "object"}


def ref(name: str) -> JsonSchema:
    """A reference to a schema of the document's components."""
    return {"$ref": f"#/components/schemas/{name}"}


def array(items: JsonSchema) -> JsonSchema:
    """A JSON array of `items`."""
    return {"type": "array", "items": items}


def described(schema: JsonSchema, description: str) -> JsonSchema:
    """The schema with a description for readers of the document."""
    return {**schema, "description": description}


def record(**properties: JsonSchema) -> JsonSchema:
    """An object whose properties are all present in every answer."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
    }


_EPOCH_SECONDS = described(INTEGER, "Epoch seconds.")
_NULL_STRING: JsonSchema = {"type": ["string", "null"]}
_NULL_INTEGER: JsonSchema = {"type": ["integer", "null"]}
_NULL_OBJECT: JsonSchema = {"type": ["object", "null"]}
_TENANT_MEMBERSHIP = record(
    tenantId=STRING,
    roleNames=array(STRING),
    tenantName=STRING,
    permissions=array(STRING),
)

ENTITIES: dict[str, JsonSchema] = {
    "User": record(
        userId=STRING,
        loginIds=array(STRING),
        externalIds=described(array(STRING), "The login ids."),
        name=STRING,
        givenName=STRING,
        middleName=STRING,
        familyName=STRING,
        email=STRING,
        verifiedEmail=BOOLEAN,
        phone=STRING,
        verifiedPhone=BOOLEAN,
        roleNames=array(STRING),
        userTenants=array(_TENANT_MEMBERSHIP),
        status={"type": "string", "enum": ["enabled", "disabled", "invited"]},
        picture=STRING,
        test=BOOLEAN,
        customAttributes=OBJECT,
        createdTime=_EPOCH_SECONDS,
        editable=BOOLEAN,
        permissions=array(STRING),
        ssoAppIds=array(STRING),
        TOTP=BOOLEAN,
        SAML=BOOLEAN,
        OIDC=BOOLEAN,
        SCIM=BOOLEAN,
        OAuth=OBJECT,
        webauthn=BOOLEAN,
        password=BOOLEAN,
        push=BOOLEAN,
    ),
    "Tenant": record(
        id=STRING,
        name=STRING,
        selfProvisioningDomains=array(STRING),
        customAttributes=OBJECT,
        createdTime=_EPOCH_SECONDS,
        authType={"type": "string", "enum": ["none"]},
        enforceSSO=BOOLEAN,
        disabled=BOOLEAN,
        domains=array(STRING),
    ),
    "AuditRecord": record(
        id=STRING,
        projectId=STRING,
        userId=STRING,
        action=STRING,
        type={"type": "string", "enum": ["info", "warn", "error"]},
        actorId=STRING,
        occurred=described(STRING, "Epoch milliseconds as a decimal string."),
        device=STRING,
        method=STRING,
        geo=STRING,
        remoteAddress=STRING,
        externalIds=described(array(STRING), "The user's login ids."),
        tenants=array(STRING),
        data=OBJECT,
    ),
    "ManagementKey": record(
        id=STRING,
        name=STRING,
        scope={"type": "string", "enum": ["full", "read-only", "run-flows"]},
        status={"type": "string", "enum": ["active", "revoked"]},
        createdTime=_EPOCH_SECONDS,
        revokedTime=described(INTEGER, "Epoch seconds; 0 while the key is live."),
    ),
    "Connector": record(
        connectorId=STRING,
        name=STRING,
        type={"type": "string", "enum": ["http", "smtp", "slack", "teams", "sql"]},
        settings=OBJECT,
        secretNames=described(array(STRING), "Secret values are never answered."),
        createdTime=described(INTEGER, "Epoch milliseconds."),
        modifiedTime=described(INTEGER, "Epoch milliseconds."),
    ),
    "FlowListEntry": record(
        id=STRING,
        name=STRING,
        description=STRING,
        disabled=BOOLEAN,
        management=BOOLEAN,
        version=INTEGER,
        modifiedTime=described(STRING, "Epoch seconds as a decimal string."),
    ),
    "FailedUser": record(
        failure=STRING,
        user=described(OBJECT, "The entry as it was sent."),
    ),
    "Delivery": record(
        deliveryId=STRING,
        eventId=described(
            _NULL_STRING, "The event delivered; null for an async API run."
        ),
        flowId=STRING,
        status={
            "type": "string",
            "enum": ["pending", "running", "done", "dead", "skipped"],
        },
        attempts=INTEGER,
        availableTime=described(INTEGER, "Epoch milliseconds of the next attempt."),
        leaseOwner=described(_NULL_STRING, "The worker holding or that finished it."),
        leaseExpiresTime=described(_NULL_INTEGER, "Epoch milliseconds."),
        lastError=described(_NULL_OBJECT, "`code`, `message`, `taskId`, `runId`."),
        runId=described(
            _NULL_STRING,
            "The run of the last attempt; an async API run's from the start.",
        ),
        skipReason=_NULL_STRING,
        createdTime=described(
            INTEGER,
            "Epoch milliseconds: the event's time, or when the run was accepted.",
        ),
        finishedTime=described(_NULL_INTEGER, "Epoch milliseconds."),
    ),
    "ChainedEvent": record(
        id=STRING,
        action=STRING,
        type={"type": "string", "enum": ["info", "warn", "error"]},
        custom=BOOLEAN,
        actorId=STRING,
        userId=_NULL_STRING,
        tenantId=_NULL_STRING,
        occurred=described(INTEGER, "Epoch milliseconds."),
        data=OBJECT,
        originEventId=described(_NULL_STRING, "The first event of its chain."),
        depth=described(INTEGER, "Runs between the origin event and this one."),
        runId=described(_NULL_STRING, "The run that caused the event."),
    ),
}

ANSWERS: dict[str, JsonSchema] = {
    "Empty": described(
        {"type": "object", "maxProperties": 0}, "An empty success: `{}`."
    ),
    "RunAnswer": record(output=described(OBJECT, "The End task's outputs.")),
    "AsyncRunAnswer": record(
        executionId=described(STRING, "The run id; ask `async/result` with it.")
    ),
    "AsyncResultAnswer": record(
        executionId=STRING,
        status={"type": "string", "enum": ["running", "completed", "failed"]},
        output=described(OBJECT, "The End task's outputs, once completed."),
        error=described(
            ref("Error"), "What the synchronous run would answer, once failed."
        ),
    ),
    "FlowListAnswer": record(flows=array(ref("FlowListEntry")), total=INTEGER),
    "FlowV1Answer": record(
        flow=described(OBJECT, "The v1 flow: `id`, `name`, `dsl`, ..."),
        screens=array(OBJECT),
    ),
    "FlowV2Answer": record(
        flow=described(OBJECT, "The v2 document: `flowId`, `metadata`, `contents`.")
    ),
    "UserAnswer": record(user=ref("User")),
    "UsersAnswer": record(users=array(ref("User"))),
    "UserSearchAnswer": record(users=array(ref("User")), total=INTEGER),
    "CreatedUsersAnswer": record(
        createdUsers=array(ref("User")),
        failedUsers=array(ref("FailedUser")),
        additionalErrors=OBJECT,
    ),
    "PatchedUsersAnswer": record(
        patchedUsers=array(ref("User")), failedUsers=array(ref("FailedUser"))
    ),
    "TenantIdAnswer": record(id=STRING),
    "TenantsAnswer": record(tenants=array(ref("Tenant"))),
    "AuditSearchAnswer": record(audits=array(ref("AuditRecord")), total=INTEGER),
    "KeyCreatedAnswer": record(
        key=ref("ManagementKey"),
        cleartext=described(STRING, "The secret, shown in this answer only."),
    ),
    "KeyAnswer": record(key=ref("ManagementKey")),
    "KeysAnswer": record(keys=array(ref("ManagementKey"))),
    "ConnectorAnswer": record(connector=ref("Connector")),
    "ConnectorsAnswer": record(connectors=array(ref("Connector"))),
    "ConnectorTestAnswer": {
        "type": "object",
        "properties": {
            "ok": BOOLEAN,
            "durationMs": NUMBER,
            "result": described({}, "What the connector answered, when `ok`."),
            "error": described(
                record(code=STRING, message=STRING), "Why it failed, unless `ok`."
            ),
        },
        "required": ["ok", "durationMs"],
    },
    "DeliveriesAnswer": record(deliveries=array(ref("Delivery")), total=INTEGER),
    "DeliveryAnswer": record(delivery=ref("Delivery")),
    "RedriveAnswer": record(
        count=described(INTEGER, "Deliveries redriven, or that would be."),
        dryRun=BOOLEAN,
    ),
    "EventReportAnswer": record(
        event=ref("ChainedEvent"),
        deliveries=described(
            array(OBJECT),
            "Each `Delivery`, plus `runStatus` and `stoppedAt` (`taskId`, `name`, "
            "`operands`) when a condition filtered the run out.",
        ),
        chainStopped=described(
            _NULL_OBJECT,
            "The `EventChainStopped` data when the event was too deep to deliver.",
        ),
    ),
    "LicenseAnswer": record(rateLimitTier=STRING),
    "HealthAnswer": record(status={"type": "string", "enum": ["ok"]}),
    "OpenApiAnswer": described(OBJECT, "This document."),
}

_PROBLEM = record(source=STRING, taskId=STRING, field=STRING, message=STRING)

ERROR = {
    "type": "object",
    "description": "Descope's error body; every error answer has it.",
    "properties": {
        "errorCode": {"type": "string", "pattern": "^E[0-9]{6}$"},
        "errorDescription": described(STRING, "The code's fixed text."),
        "errorMessage": described(STRING, "What failed, and for bodies which field."),
        "problems": described(
            array(_PROBLEM), "With `E102106` only: each problem of the flow."
        ),
    },
    "required": ["errorCode", "errorDescription", "errorMessage"],
}
