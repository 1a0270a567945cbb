/** Network-namespace lab hosts for tests and benchmarks (docs/DESIGN.md §2): `labUp`, `labOpen`, `labDown`, `labStatus`. */

export type {
  HostStatus,
  LabDownReport,
  LabStatus,
  LabUpOptions,
  LinkCapture,
  LinkCaptureOptions,
  RunResult,
} from './lab.js';
export {
  LAB_STATE_DIR,
  Lab,
  labDown,
  labOpen,
  labStatus,
  labUp,
  listNamespaces,
  namespacePids,
  readLabState,
  requireRoot,
  runCommand,
} from './lab.js';
export type { LabHostState, LabSpec, LabState, LabStep, LinkShaping } from './plan.js';
export {
  checkLabName,
  DEFAULT_SUBNET,
  hostAddresses,
  labPrefix,
  MAX_HOSTS,
  NS_PREFIX,
  parseSubnet,
  planLab,
  planUp,
  shapingCommands,
  validateState,
} from './plan.js';
