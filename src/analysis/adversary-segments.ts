/**
 * The observer on equal footing (`smig analyze --adversary-segments K`): a class with more windows than the
 * reference is also cut into segments of as many windows as the reference has, each scored against the reference,
 * and their mean AUC reported beside the whole class's.
 *
 * Why: the baseline and the learned half against the hold-out compare sides of about equal size, while a link that
 * lasts twice its reference is scored with twice the windows on one side. The out-of-fold AUC of a forest is not
 * the same quantity at both sizes: with more windows on one side, and above all with windows that repeat (a
 * session longer than the trace it replays plays parts of it twice), a test window's near twin sits in the
 * training folds and is scored from memory. Offline, draws of smig's resampler against the netflix hold-out (14
 * windows; the learned half scores 0.73 against it) scored 0.65 at one trace length, 0.85 at two and 0.88 at three;
 * the same draws with the longer side drawn down to 14 windows at random scored 0.67, 0.74 and 0.75. A segment is
 * what an observer holding as much of the link as of normal traffic sees; the whole class stays the stronger
 * observer's view and is reported first.
 */
import { max, mean, min } from 'simple-statistics';
import type { Window } from './windows.js';

/** Segments per comparison by default. */
export const DEFAULT_ADVERSARY_SEGMENTS = 8;
/** Most segments a comparison may ask for (each is a whole cross-validation). */
export const MAX_ADVERSARY_SEGMENTS = 50;

/** The subject cut into segments as long as the reference, each scored against it. */
export interface AdversarySegments {
  /** Segments scored. */
  count: number;
  /** Windows in a segment (the reference's). */
  windows: number;
  /** Mean, least and greatest of the segments' AUCs. */
  mean: number;
  min: number;
  max: number;
}

/** The classifier as {@link segmentAucs} calls it: the reference against one segment. */
export type SegmentClassifier = (segment: Window[]) => { auc: number | null };

/**
 * Scores up to `count` segments of `subject` (the windows the comparison classified, in order) of `length` windows
 * each, their starts evenly spaced from the first window to the last start that leaves a whole segment (they
 * overlap when the subject is shorter than `count` segments). Undefined when the subject is not longer than a
 * segment (its whole comparison is then already on equal footing), for no segments, or when no segment gets an AUC.
 */
export function segmentAucs(
  subject: readonly Window[],
  length: number,
  count: number,
  classify: SegmentClassifier,
): AdversarySegments | undefined {
  if (count < 1 || length < 2 || subject.length <= length) return undefined;
  const starts = subject.length - length + 1;
  const k = Math.min(count, starts, MAX_ADVERSARY_SEGMENTS);
  const aucs: number[] = [];
  for (let i = 0; i < k; i++) {
    const start = k === 1 ? 0 : Math.round((i * (starts - 1)) / (k - 1));
    const a = classify(subject.slice(start, start + length)).auc;
    if (a !== null) aucs.push(a);
  }
  if (aucs.length === 0) return undefined;
  return {
    count: aucs.length,
    windows: length,
    mean: mean(aucs),
    min: min(aucs),
    max: max(aucs),
  };
}

/** The AUC an observer holding as much of the subject as of the reference reaches: the segments' mean, else the whole AUC. */
export function equalFootingAuc(a: { auc: number | null; segments?: AdversarySegments }): number | null {
  return a.segments?.mean ?? a.auc;
}
