/**
 * The controller (`smig control`; docs/DESIGN.md §3 "Parties", paper §5.2 Algorithm 1) and its agent (inside
 * `smig relay --controller`): inventory, Suricata EVE follower and alert triage, random host selection,
 * session journal, operator hooks, the control-plane messages, the daemon, the agent and the operator client.
 */
export { ControlAgent, openSource, parseSourceSpec } from './agent.js';
export type { AgentOptions, SourceSpec } from './agent.js';
export { fetchStatus, migrate, reinstate } from './client.js';
export type { ClientOptions, MigrateRequest } from './client.js';
export { Controller } from './controller.js';
export type { ControllerOptions, ControllerStatus, HostStatus, SessionStatus } from './controller.js';
export { AlertTriage, EveFollower, parseEveLine } from './eve.js';
export type { EveAlert, EveFollowerOptions, EveLine, EveStats, EveWarning, TriageOptions, TriageResult } from './eve.js';
export { HOOK_EVENTS, SUCCESS_EVENTS, hookEnvironment, parseHookSpec, runHook } from './hooks.js';
export type { HookEvent, HookFacts, HookResult, HookSpec, RunHookOptions } from './hooks.js';
export { HOST_ROLES, MAX_HOSTS, NAME_PATTERN, canonicalIp, loadInventory, parseInventory } from './inventory.js';
export type { HostRole, Inventory, InventoryHost } from './inventory.js';
export { Journal, JournalReplayer, KEEP_CLOSED, parseRecord, replayJournal } from './journal.js';
export type { AlertFacts, JournalRecord, JournalState, NewRecord, SessionOutcome, SessionState, TriggerReason } from './journal.js';
export { DEFAULT_MAX_LINE_BYTES, LineSplitter } from './lines.js';
export type { LineSink } from './lines.js';
export { DEFAULT_COUNTS, checkCounts, selectHosts } from './selection.js';
export type { Candidate, HostPlan, RandomInt, SessionCounts } from './selection.js';
export { CONTROL_VERSION, SESSION_HEX, parseAgentInstruct, parseAgentStatus, parseOperatorRequest } from './wire.js';
export type { AgentInstruct, AgentReport, AgentRole, AgentStatus, OperatorRequest } from './wire.js';
