/**
 * Keeping a short array sorted as items come: pure helpers.
 */

/** Inserts `item` into `arr`, kept ascending by `key`, after any item with an equal key (a scan from the end). */
export function insertSorted<T>(arr: T[], item: T, key: (x: T) => number): void {
  const k = key(item);
  let i = arr.length;
  while (i > 0 && key(arr[i - 1]!) > k) i--;
  arr.splice(i, 0, item);
}
