import { expect } from 'vitest';
import { SmigError } from '../../src/errors.js';

/** Awaits `p`, which must reject with a SmigError; returns it. */
export async function failure(p: Promise<unknown>): Promise<SmigError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SmigError);
    return err as SmigError;
  }
  throw new Error('expected a SmigError, the promise resolved');
}
