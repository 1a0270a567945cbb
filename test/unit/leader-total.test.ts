/**
 * The leader's ciphertext length (leader-options.ts `knownTotal`): from an END, else from the envelope's header once
 * the key is rebuilt, so a session whose data links all hold their END still finishes once its data is in. Oracle:
 * `ciphertextLength` of the header's payload length, and the source's own envelope of a known payload.
 */
import { describe, expect, it } from 'vitest';
import { ciphertextLength } from '../../src/crypto/envelope.js';
import { knownTotal } from '../../src/roles/leader-options.js';

describe('knownTotal', () => {
  const S = 4096;
  const whole = ciphertextLength(60_930, S);

  it("is the header's ciphertext length when no END has come; an END's length when the header has none", () => {
    expect(knownTotal(null, 60_930n, S, 1000)).toBe(whole);
    expect(knownTotal(null, null, S, 1000)).toBeNull(); // a stream of unknown length waits for END
    expect(knownTotal(5000, null, S, 1000)).toBe(5000);
    expect(knownTotal(whole, 60_930n, S, whole)).toBe(whole); // an END that agrees
  });

  it('refuses an END or data that disagree with the header', () => {
    expect(() => knownTotal(whole + 1, 60_930n, S, 0)).toThrow(
      `leader: END length ${whole + 1} disagrees with the envelope's ${whole} bytes`,
    );
    expect(() => knownTotal(null, 60_930n, S, whole + 1)).toThrow(
      `leader: data up to ${whole + 1} disagrees with the envelope's ${whole} bytes`,
    );
  });

  it("matches what a source sends: the END length of a 60 000 B payload's session (61 794 B, 60 930 B inner)", () => {
    expect(ciphertextLength(60_930, S)).toBe(61_794);
  });
});
