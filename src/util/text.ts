/**
 * Text checks shared by every layer that takes text from a peer or a user and puts it in one-line logs or on
 * the wire: C0 and C1 control characters and DEL are never accepted there.
 */

/** Matches one C0 or C1 control character or DEL. */
export const CONTROL_CHAR: RegExp = /[\u0000-\u001f\u007f-\u009f]/;

/** True when `text` holds a C0 or C1 control character or DEL. */
export function hasControlChar(text: string): boolean {
  return CONTROL_CHAR.test(text);
}

/** `text` with every control character replaced by `by` (a space by default). */
export function replaceControlChars(text: string, by = ' '): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, by);
}
