// Drives the official @descope/node-sdk, unchanged, against a running idflow serve
// and prints one JSON report of what each call handed back, for
// tests/acceptance/test_node_sdk.py to check field by field.
//
// Env: IDFLOW_BASE_URL, IDFLOW_PROJECT_ID, IDFLOW_MANAGEMENT_KEY, and
// IDFLOW_V1_EXPORT (the path of a Descope v1 flow export to import).

import { readFileSync } from "node:fs";

import DescopeClient from "@descope/node-sdk";

const readJson = (path) => JSON.parse(readFileSync(path, "utf8"));
const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const baseUrl = env("IDFLOW_BASE_URL");
const projectId = env("IDFLOW_PROJECT_ID");
const exported = readJson(env("IDFLOW_V1_EXPORT"));
const sdk = DescopeClient({ projectId, managementKey: env("IDFLOW_MANAGEMENT_KEY"), baseUrl });
const mgmt = sdk.management;
// The SDK's package.json is not among its exports, so it is read as a file.
const manifest = new URL("node_modules/@descope/node-sdk/package.json", import.meta.url);
const report = { sdkVersion: readJson(manifest).version };

// One SDK call: its {ok, code, data} or {ok, code, error}, without the raw
// response; a thrown error (the SDK throws only on transport or JSON faults) is
// recorded as such, so one failure does not hide the others.
async function step(name, call) {
  try {
    const { ok, code, data, error } = await call();
    report[name] = ok ? { ok, code, data } : { ok, code, error };
  } catch (thrown) {
    report[name] = { thrown: String(thrown) };
  }
  return report[name];
}

const FLOW_ID = "node-dormant";
const TENANT_ID = "T-node";

await step("tenantCreateWithId", () =>
  mgmt.tenant.createWithId(TENANT_ID, "Node Tenant", ["node.example.com"], { tier: "gold" }),
);
await step("tenantCreate", () => mgmt.tenant.create("Node Generated Tenant"));
await step("tenantLoad", () => mgmt.tenant.load(TENANT_ID));
await step("tenantLoadAll", () => mgmt.tenant.loadAll());
await step("tenantSearchAll", () => mgmt.tenant.searchAll([TENANT_ID]));

const ada = await step("userCreate", () =>
  mgmt.user.create("node-ada@example.com", {
    email: "node-ada@example.com",
    phone: "+15551230101",
    displayName: "Ada Lovelace",
    givenName: "Ada",
    familyName: "Lovelace",
    roles: ["auditor"],
    userTenants: [{ tenantId: TENANT_ID, roleNames: ["admin"] }],
    customAttributes: { plan: "pro" },
    verifiedEmail: true,
    additionalLoginIds: ["node-ada-alt"],
  }),
);
const adaId = ada.data?.userId;
// The older positional form: login id, email, phone, display name.
await step("userCreatePositional", () =>
  mgmt.user.create("node-bob@example.com", "node-bob@example.com", "+15551230102", "Bob"),
);
await step("userLoad", () => mgmt.user.load("node-ada-alt"));
await step("userLoadByUserId", () => mgmt.user.loadByUserId(adaId));
await step("userSearch", () =>
  mgmt.user.search({ text: "node-", limit: 10, sort: [{ field: "createdTime", desc: false }] }),
);
await step("userSearchAll", () => mgmt.user.searchAll([TENANT_ID]));
await step("userUpdate", () =>
  mgmt.user.update("node-bob@example.com", {
    email: "node-robert@example.com",
    displayName: "Robert",
    roles: ["viewer"],
  }),
);
await step("userPatch", () =>
  mgmt.user.patch("node-ada@example.com", {
    displayName: "Ada King",
    customAttributes: { plan: "team" },
  }),
);
await step("userDeactivate", () => mgmt.user.deactivate("node-ada@example.com"));
await step("userActivate", () => mgmt.user.activate("node-ada@example.com"));
await step("userAddTenantRoles", () =>
  mgmt.user.addTenantRoles("node-ada@example.com", TENANT_ID, ["editor"]),
);
await step("userUpdateEmail", () =>
  mgmt.user.updateEmail("node-ada@example.com", "ada@node.example.com", true),
);
await step("userUpdatePhone", () =>
  mgmt.user.updatePhone("node-ada@example.com", "+15551230199", false),
);
await step("userUpdateDisplayName", () =>
  mgmt.user.updateDisplayName("node-ada@example.com", "Countess", "Augusta", "Ada", "King"),
);
await step("userUpdatePicture", () =>
  mgmt.user.updatePicture("node-ada@example.com", "https://node.example.com/ada.png"),
);
await step("userUpdateCustomAttribute", () =>
  mgmt.user.updateCustomAttribute("node-ada@example.com", "seats", 3),
);
await step("userSetRoles", () => mgmt.user.setRoles("node-ada@example.com", ["owner", "auditor"]));
await step("userRemoveRoles", () => mgmt.user.removeRoles("node-ada@example.com", ["owner"]));
await step("userUpdateLoginId", () => mgmt.user.updateLoginId("node-ada-alt", "node-ada-second"));
await step("userLogout", () => mgmt.user.logoutUser("node-ada@example.com"));
await step("userCreateDuplicate", () => mgmt.user.create("node-ada@example.com"));

await step("userCreateBatch", () =>
  mgmt.user.createBatch([
    { loginId: "node-batch-1@example.com", roles: ["viewer"] },
    { loginId: "node-ada@example.com" },
  ]),
);
await step("userPatchBatch", () =>
  mgmt.user.patchBatch([{ loginIdOrUserId: "node-batch-1@example.com", displayName: "Batch One" }]),
);
await step("userInvite", () =>
  mgmt.user.invite("node-invited@example.com", { email: "node-invited@example.com" }),
);
await step("userAddTenant", () => mgmt.user.addTenant("node-invited@example.com", TENANT_ID));
await step("userRemoveTenant", () => mgmt.user.removeTenant("node-invited@example.com", TENANT_ID));
const batchUser = await step("userLoadBatchUser", () => mgmt.user.load("node-batch-1@example.com"));
const invited = await step("userLoadInvited", () => mgmt.user.load("node-invited@example.com"));
await step("userLoadUsers", () =>
  mgmt.user.loadUsers([invited.data?.userId, batchUser.data?.userId]),
);
await step("userDeleteBatch", () =>
  mgmt.user.deleteBatch([invited.data?.userId, batchUser.data?.userId]),
);
await step("userCreateTestUser", () => mgmt.user.createTestUser("node-test@example.com"));
await step("userSearchTestUsers", () => mgmt.user.searchTestUsers({ limit: 10 }));
await step("userDeleteAllTestUsers", () => mgmt.user.deleteAllTestUsers());
await step("userSearchTestUsersAfter", () => mgmt.user.searchTestUsers({}));
await step("userDelete", () => mgmt.user.delete("node-bob@example.com"));
await step("userLoadDeleted", () => mgmt.user.load("node-bob@example.com"));

await step("tenantUpdate", () =>
  mgmt.tenant.update(TENANT_ID, "Node Tenant Renamed", ["node.example.com"], { tier: "silver" }),
);
await step("tenantLoadUpdated", () => mgmt.tenant.load(TENANT_ID));

await step("flowImport", () => mgmt.flow.import(FLOW_ID, exported.flow, exported.screens));
await step("flowList", () => mgmt.flow.list());
await step("flowRunKeep", () =>
  mgmt.flow.run(FLOW_ID, { input: { userId: adaId, daysInactive: 10 } }),
);
await step("flowRunDisable", () =>
  mgmt.flow.run(FLOW_ID, { input: { userId: adaId, daysInactive: 120 } }),
);
await step("userLoadAfterRun", () => mgmt.user.loadByUserId(adaId));
await step("flowExport", () => mgmt.flow.export(FLOW_ID));
await step("flowRunMissing", () => mgmt.flow.run("no-such-flow"));
await step("flowImportDoomed", () =>
  mgmt.flow.import("node-doomed", exported.flow, exported.screens),
);
await step("flowDelete", () => mgmt.flow.delete(["node-doomed"]));
await step("flowExportDeleted", () => mgmt.flow.export("node-doomed"));

await step("auditCreateEvent", () =>
  mgmt.audit.createEvent({
    action: "node.checked",
    type: "info",
    actorId: "node-backend",
    tenantId: TENANT_ID,
    userId: adaId,
    data: { n: 1 },
  }),
);
await step("auditSearch", () => mgmt.audit.search({ actions: ["node.checked"] }));
await step("auditSearchAll", () =>
  mgmt.audit.searchAll({ userIds: [adaId], from: Date.now() - 3_600_000 }),
);
await step("auditCreateEventBadType", () =>
  mgmt.audit.createEvent({ action: "a", type: "notice", actorId: "me", tenantId: TENANT_ID }),
);

const generated = report.tenantCreate.data?.id;
await step("tenantDelete", () => mgmt.tenant.delete(generated, true));
await step("tenantLoadDeleted", () => mgmt.tenant.load(generated));

const stranger = DescopeClient({ projectId, managementKey: "K2-not-a-key", baseUrl });
await step("wrongKey", () => stranger.management.user.load("node-ada@example.com"));

process.stdout.write(`${JSON.stringify(report)}\n`);
