/**
 * One shared wait for a socket's `'drain'`: every sender held up by a full socket buffer awaits the same
 * promise, and its listeners are removed as soon as the socket drains or closes.
 */
import type { Socket } from 'node:net';

/** The shared drain wait of one socket. */
export class DrainWait {
  readonly #socket: Socket;
  readonly #closedError: () => Error;
  #pending: Promise<void> | null = null;

  /** @param closedError makes the error a wait rejects with when the socket closes before draining. */
  constructor(socket: Socket, closedError: () => Error) {
    this.#socket = socket;
    this.#closedError = closedError;
  }

  /** Resolves on `'drain'`, rejects on `'close'`; callers waiting at the same time share one promise. */
  wait(): Promise<void> {
    if (this.#pending !== null) return this.#pending;
    const s = this.#socket;
    let onDrain!: () => void;
    let onClose!: () => void;
    this.#pending = new Promise<void>((resolve, reject) => {
      onDrain = resolve;
      onClose = () => reject(this.#closedError());
      s.on('drain', onDrain);
      s.on('close', onClose);
    }).finally(() => {
      s.off('drain', onDrain);
      s.off('close', onClose);
      this.#pending = null;
    });
    return this.#pending;
  }
}
