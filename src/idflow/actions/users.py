"""User actions: load, enable, disable, update, delete, tenants and roles."""

from __future__ import annotations

from idflow.actions import arguments
from idflow.engine.contract import ActionCall, ActionResult
from idflow.errors import InvalidArgument
from idflow.services import users
from idflow.services.audit import Actor
from idflow.store.records import User, UserStatus

# Action argument name -> User attribute, for user-update.
_UPDATABLE = {
    "name": "name",
    "givenName": "given_name",
    "middleName": "middle_name",
    "familyName": "family_name",
    "email": "email",
    "phone": "phone",
}


def _target(call: ActionCall) -> User:
    return users.require_user(call.conn, call.run.project_id, arguments.user_ref(call))


def _result(call: ActionCall, user: User, **detail: object) -> ActionResult:
    names = users.tenant_names_for(call.conn, user)
    return ActionResult(
        users.user_to_context(user, names), {"userId": user.user_id, **detail}
    )


def load_user(call: ActionCall) -> ActionResult:
    """`user-load`: load a user by login id or user id into `user.*`."""
    ref = arguments.text(call, "loginId", required=True)
    assert ref is not None
    user = users.require_user(call.conn, call.run.project_id, ref)
    return _result(call, user)


def load_user_from_triggering_event(call: ActionCall) -> ActionResult:
    """`user-load-from-triggering-event`: load `triggeringEvent.userId`."""
    event = call.context.get("triggeringEvent")
    user_id = event.get("userId") if isinstance(event, dict) else None
    if not user_id:
        raise InvalidArgument(
            "The run has no triggering event with a userId: this action needs a flow started by an audit event about a user."
        )
    return _result(call, users.require_user(call.conn, call.run.project_id, user_id))


def disable_user(call: ActionCall) -> ActionResult:
    """`user-disable`: set the user's status to disabled."""
    user = users.set_status(
        call.conn, Actor.for_run(call.run), _target(call), UserStatus.DISABLED
    )
    return _result(call, user, status=str(user.status))


def enable_user(call: ActionCall) -> ActionResult:
    """`user-enable`: set the user's status to enabled."""
    user = users.set_status(
        call.conn, Actor.for_run(call.run), _target(call), UserStatus.ENABLED
    )
    return _result(call, user, status=str(user.status))


def update_user(call: ActionCall) -> ActionResult:
    """`user-update`: change the given fields; custom attributes are merged."""
    user = _target(call)
    changes: dict[str, object] = {}
    # The trace names fields by their wire names, as the arguments do.
    changed: list[str] = []
    for argument, attribute in _UPDATABLE.items():
        value = arguments.text(call, argument)
        if value is not None:
            changes[attribute] = value
            changed.append(argument)
    custom = arguments.mapping(call, "customAttributes")
    if custom is not None:
        changes["custom_attributes"] = {**user.custom_attributes, **custom}
        changed.append("customAttributes")
    updated = users.change_user(call.conn, Actor.for_run(call.run), user, **changes)
    return _result(call, updated, changed=sorted(changed))


def delete_user(call: ActionCall) -> ActionResult:
    """`user-delete`: delete the user; `user.*` is left as it was."""
    user = _target(call)
    users.delete_user(call.conn, Actor.for_run(call.run), user)
    return ActionResult(None, {"userId": user.user_id, "deleted": True})


def add_tenant(call: ActionCall) -> ActionResult:
    """`user-add-tenant`: add the user to a tenant, optionally with roles."""
    tenant_id = arguments.text(call, "tenantId", required=True)
    assert tenant_id is not None
    roles = arguments.text_list(call, "roleNames")
    user = users.add_tenant(
        call.conn, Actor.for_run(call.run), _target(call), tenant_id, roles
    )
    return _result(call, user, tenantId=tenant_id)


def remove_tenant(call: ActionCall) -> ActionResult:
    """`user-remove-tenant`: remove the user from a tenant."""
    tenant_id = arguments.text(call, "tenantId", required=True)
    assert tenant_id is not None
    user = users.remove_tenant(
        call.conn, Actor.for_run(call.run), _target(call), tenant_id
    )
    return _result(call, user, tenantId=tenant_id)


def add_roles(call: ActionCall) -> ActionResult:
    """`user-add-roles`: add roles project-wide or in one tenant."""
    roles = arguments.text_list(call, "roleNames", required=True)
    tenant_id = arguments.text(call, "tenantId")
    user = users.add_roles(
        call.conn, Actor.for_run(call.run), _target(call), roles, tenant_id
    )
    return _result(call, user, roleNames=roles)


def remove_roles(call: ActionCall) -> ActionResult:
    """`user-remove-roles`: remove roles project-wide or in one tenant."""
    roles = arguments.text_list(call, "roleNames", required=True)
    tenant_id = arguments.text(call, "tenantId")
    user = users.remove_roles(
        call.conn, Actor.for_run(call.run), _target(call), roles, tenant_id
    )
    return _result(call, user, roleNames=roles)
