/**
 * The Fano factor's sum of squares over fixed-width windows of packet counts, in bounded memory (the traffic
 * accumulator keeps one counter per window width).
 */

/** Windows kept open per Fano width before they are folded into the running sum of squares. */
export const FANO_HORIZON = 65_536;

/**
 * Σ c² over the packet counts c of all windows of one width, in bounded memory: open windows live in a map;
 * once the map holds more than FANO_HORIZON windows, those more than FANO_HORIZON / 2 behind the newest are
 * folded into the sum. Exact unless a packet comes so late that its window was already folded (a file out of
 * time order by more than ~FANO_HORIZON / 2 windows: 5 min at 10 ms); such a packet counts as a window of its
 * own and is reported in `late`.
 */
export class FanoCounter {
  private readonly open: Map<number, number> = new Map();
  private folded = 0;
  private foldedBelow = -Infinity;
  private newest = -Infinity;
  late = 0;

  /** The window of the latest packets and how many of them, not yet in `open` (packets come in runs). */
  private pendingWindow = NaN;
  private pendingCount = 0;

  add(w: number): void {
    if (w === this.pendingWindow) {
      this.pendingCount++;
      return;
    }
    this.flush();
    if (w < this.foldedBelow) {
      this.late++;
      this.folded += 1;
      return;
    }
    this.pendingWindow = w;
    this.pendingCount = 1;
  }

  sumOfSquares(): number {
    this.flush();
    let s = this.folded;
    for (const c of this.open.values()) s += c * c;
    return s;
  }

  /** Adds the pending run as its packets one by one would have been (the first may fold; the rest may be late). */
  private flush(): void {
    const w = this.pendingWindow;
    const n = this.pendingCount;
    if (n === 0) return;
    this.pendingWindow = NaN;
    this.pendingCount = 0;
    const had = this.open.get(w);
    if (had !== undefined || this.open.size < FANO_HORIZON) {
      // the common case, in one lookup and one store: the first packet makes the map no larger than the horizon,
      // so nothing is folded and the window (not late when it was opened) takes the whole run
      if (w > this.newest) this.newest = w;
      this.open.set(w, (had ?? 0) + n);
      return;
    }
    this.open.set(w, 1);
    if (w > this.newest) this.newest = w;
    if (this.open.size > FANO_HORIZON) this.fold(this.newest - FANO_HORIZON / 2);
    if (n === 1) return;
    if (w < this.foldedBelow) {
      this.late += n - 1;
      this.folded += n - 1;
    } else {
      this.open.set(w, this.open.get(w)! + n - 1);
    }
  }

  private fold(below: number): void {
    for (const [w, c] of this.open) {
      if (w < below) {
        this.folded += c * c;
        this.open.delete(w);
      }
    }
    this.foldedBelow = below;
  }
}
