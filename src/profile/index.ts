/** Normal-traffic profiles: the model, learning one from a capture, and drawing synthetic traffic from it. */

export type { LearnOptions, LearnResult } from './learn.js';
export {
  autoLevels,
  buildChain,
  DEFAULT_BIN_NS,
  DEFAULT_BURST_GAP_NS,
  filterDirection,
  IAT_QUANTILES,
  learnProfile,
  shapeOf,
  TRACE_PIECE,
  TraceKeeper,
} from './learn.js';
export type {
  BurstStats,
  Chain,
  Direction,
  GapSummary,
  Histogram,
  IatStats,
  Level,
  PacketShape,
  Profile,
  Provenance,
} from './model.js';
export {
  compactJson,
  jsonErrorText,
  levelOf,
  loadProfile,
  MAX_LEVELS,
  MAX_PROFILE_BINS,
  MAX_PROFILE_FILE_BYTES,
  MAX_TRACE_PACKETS,
  PROFILE_FORMAT,
  PROFILE_TOLERANCE,
  PROFILE_VERSION,
  PROFILE_VERSIONS,
  parseProfile,
  profileBinSeconds,
  saveProfile,
  stringifyProfile,
  validateProfile,
  withoutShape,
} from './model.js';
export type { LevelSummary, ProfileSummary } from './report.js';
export { profilePlotInput, sampleSeries, summarizeProfile } from './report.js';
export type { BinTarget, ChainModel, RateSampler, Rng, SizeSampler } from './sampler.js';
export { createRateSampler, createRng, createSizeSampler, deriveSeed, tiltWeights } from './sampler.js';
