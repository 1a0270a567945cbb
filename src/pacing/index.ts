/** Pacing: clock, token bucket, strategies, plans and a paced Writable (docs/DESIGN.md §4). */
export { FakeClock, RealClock } from './clock.js';
export type { Clock, FakeClockOptions, RealClockOptions } from './clock.js';
export { StepSchedule, TokenBucket } from './bucket.js';
export type { BucketStats, LatenessStats, RateSchedule, TokenBucketOptions } from './bucket.js';
export { PacedWritable } from './paced-writable.js';
export type { PacedSink, PacedWritableOptions, WritePacer } from './paced-writable.js';
export { BinSchedule, createPacer } from './strategies.js';
export type { BinScheduleOptions, Pacer, PacerStats } from './strategies.js';
export {
  DEFAULT_OVERHEADS, PEAK_FACTOR, PLAN_MAX_JSON_BYTES, PLAN_MAX_PAIRS, PLAN_MAX_REPLAY_BINS, PLAN_MAX_SIZES, STRATEGIES,
  compactHistogram, compactPairs, constantWriteSize, createPlan, overheadOf, parsePlan, planDuration, stringifyPlan, validatePlan,
} from './plan.js';
export type { Overheads, PacingPlan, PlanDuration, PlanOptions, PlanProfile, Strategy } from './plan.js';
export { ACK_SLACK, BurstResampler, DEFAULT_MERGE_US, MAX_RECORD, MEAN_RUN_BURSTS, MIN_FRAME, REBASE_MS, ShapedPacer, WritePlanner, isShaped, wireLimits } from './shape.js';
export type { ShapedWrite, ShaperOptions, Trace } from './shape.js';
export { DEFAULT_SEGMENT, PLAN_MAX_TRACE, compactTrace, traceRates } from './plan.js';
