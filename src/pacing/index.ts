/** Pacing: clock, token bucket, strategies, plans and a paced Writable (docs/DESIGN.md §4). */

export type { BucketStats, LatenessStats, RateSchedule, TokenBucketOptions } from './bucket.js';
export { StepSchedule, TokenBucket } from './bucket.js';
export type { Clock, FakeClockOptions, RealClockOptions } from './clock.js';
export { FakeClock, RealClock } from './clock.js';
export type { PacedSink, PacedWritableOptions, WritePacer } from './paced-writable.js';
export { PacedWritable } from './paced-writable.js';
export type { Overheads, PacingPlan, PlanDuration, PlanOptions, PlanProfile, Strategy } from './plan.js';
export {
  compactHistogram,
  compactPairs,
  compactTrace,
  constantWriteSize,
  createPlan,
  DEFAULT_OVERHEADS,
  DEFAULT_SEGMENT,
  overheadOf,
  PEAK_FACTOR,
  PLAN_MAX_JSON_BYTES,
  PLAN_MAX_PAIRS,
  PLAN_MAX_REPLAY_BINS,
  PLAN_MAX_SIZES,
  PLAN_MAX_TRACE,
  parsePlan,
  planDuration,
  STRATEGIES,
  stringifyPlan,
  traceRates,
  validatePlan,
} from './plan.js';
export type { ShapedWrite, ShaperOptions, Trace } from './shape.js';
export {
  ACK_SLACK,
  BurstResampler,
  DEFAULT_MERGE_US,
  isShaped,
  MAX_RECORD,
  MEAN_RUN_BURSTS,
  MIN_FRAME,
  REBASE_MS,
  ShapedPacer,
  WritePlanner,
  wireLimits,
} from './shape.js';
export type { BinScheduleOptions, Pacer, PacerStats } from './strategies.js';
export { BinSchedule, createPacer } from './strategies.js';
