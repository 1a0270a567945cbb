/** Network-namespace lab hosts for tests and benchmarks (docs/DESIGN.md §2): `labUp`, `labOpen`, `labDown`, `labStatus`. */
export { LAB_STATE_DIR, Lab, labDown, labOpen, labStatus, labUp, listNamespaces, namespacePids, readLabState, requireRoot, runCommand } from './lab.js';
export type { HostStatus, LabDownReport, LabStatus, LabUpOptions, LinkCapture, LinkCaptureOptions, RunResult } from './lab.js';
export { DEFAULT_SUBNET, MAX_HOSTS, NS_PREFIX, checkLabName, hostAddresses, labPrefix, parseSubnet, planLab, planUp, shapingCommands, validateState } from './plan.js';
export type { LabHostState, LabSpec, LabState, LabStep, LinkShaping } from './plan.js';
