/**
 * The controller (`smig control`; docs/DESIGN.md §3 "Parties", paper §5.2 Algorithm 1) and its agent (inside
 * `smig relay --controller`): inventory, Suricata EVE follower and alert triage, random host selection,
 * session journal, operator hooks, the control-plane messages, the daemon, the agent and the operator client.
 */

export type { AgentOptions, SourceSpec } from './agent.js';
export { ControlAgent, openSource, parseSourceSpec } from './agent.js';
export type { ClientOptions, MigrateRequest } from './client.js';
export { fetchStatus, migrate, reinstate } from './client.js';
export type { ControllerOptions, ControllerStatus, HostStatus, SessionStatus } from './controller.js';
export { Controller } from './controller.js';
export type {
  EveAlert,
  EveFollowerOptions,
  EveLine,
  EveStats,
  EveWarning,
  TriageOptions,
  TriageResult,
} from './eve.js';
export { AlertTriage, EveFollower, parseEveLine } from './eve.js';
export type { HookEvent, HookFacts, HookResult, HookSpec, RunHookOptions } from './hooks.js';
export { HOOK_EVENTS, hookEnvironment, parseHookSpec, runHook, SUCCESS_EVENTS } from './hooks.js';
export type { HostRole, Inventory, InventoryHost } from './inventory.js';
export { canonicalIp, HOST_ROLES, loadInventory, MAX_HOSTS, NAME_PATTERN, parseInventory } from './inventory.js';
export type {
  AlertFacts,
  JournalRecord,
  JournalState,
  NewRecord,
  SessionOutcome,
  SessionState,
  TriggerReason,
} from './journal.js';
export { Journal, JournalReplayer, KEEP_CLOSED, parseRecord, replayJournal } from './journal.js';
export type { LineSink } from './lines.js';
export { DEFAULT_MAX_LINE_BYTES, LineSplitter } from './lines.js';
export type { Candidate, HostPlan, RandomInt, SessionCounts } from './selection.js';
export { checkCounts, DEFAULT_COUNTS, selectHosts } from './selection.js';
export type { AgentInstruct, AgentReport, AgentRole, AgentStatus, OperatorRequest } from './wire.js';
export { CONTROL_VERSION, parseAgentInstruct, parseAgentStatus, parseOperatorRequest, SESSION_HEX } from './wire.js';
