/**
 * The controller's EVE triage: each alert the EVE follower reads becomes triggers for the flagged hosts
 * ({@link AlertTriage} keeps the severity threshold and the per-host cooldown); unknown addresses and
 * suppressed alerts are counted and logged sparingly; a trigger the controller must refuse is journaled as a
 * refused session (its `failed` hook runs), so no alert is lost silently.
 */

import type { ControlCore, Trigger } from './core.js';
import { newId } from './core.js';
import type { EveAlert } from './eve.js';
import { AlertTriage } from './eve.js';
import type { HostRegistry } from './hosts.js';
import type { SessionRunner } from './sessions.js';

/** What the status shows of the triage. */
export interface AlertCounts {
  unknown: number;
  suppressed: number;
  triggered: number;
}

/** Turns EVE alerts into triggers. */
export class AlertHandler {
  readonly #c: ControlCore;
  readonly #hosts: HostRegistry;
  readonly #runner: SessionRunner;
  readonly #triage: AlertTriage;
  readonly #counts: AlertCounts = { unknown: 0, suppressed: 0, triggered: 0 };
  readonly #unknownSeen: Map<string, number> = new Map();

  constructor(core: ControlCore, hosts: HostRegistry, runner: SessionRunner) {
    this.#c = core;
    this.#hosts = hosts;
    this.#runner = runner;
    this.#triage = new AlertTriage(core.o.inventory, {
      maxSeverity: core.o.maxSeverity ?? 2,
      cooldownMs: core.o.cooldownMs ?? 300_000,
      now: () => core.clock.now(),
    });
  }

  get counts(): AlertCounts {
    return this.#counts;
  }

  /** One alert, read at `line` of the EVE file. */
  onAlert(a: EveAlert, line: number): void {
    const c = this.#c;
    const r = this.#triage.triage(a, (h) => this.#hosts.get(h.name)!.honeypot || c.migrating.has(h.name));
    for (const ip of r.unknown) {
      this.#counts.unknown++;
      const n = (this.#unknownSeen.get(ip) ?? 0) + 1;
      if (this.#unknownSeen.size < 10_000 || this.#unknownSeen.has(ip)) this.#unknownSeen.set(ip, n);
      // log the first alert of each unknown address, then every 100th
      if (n === 1 || n % 100 === 0) c.log.event('eve-unknown-address', { ip, line, alerts: n, signature: a.signature });
    }
    for (const s of r.suppressed) {
      this.#counts.suppressed++;
      c.log.event('eve-suppressed', { host: s.host.name, reason: s.reason, line, severity: a.severity });
    }
    for (const inv of r.flagged) {
      c.log.event('eve-alert', {
        host: inv.name,
        line,
        severity: a.severity,
        sid: a.signatureId,
        signature: a.signature,
      });
      const alert = {
        signature: a.signature,
        signatureId: a.signatureId,
        severity: a.severity,
        srcIp: a.srcIp,
        destIp: a.destIp,
        timestamp: a.timestamp,
      };
      try {
        this.#runner.trigger(inv.name, null, { kind: 'eve', alert });
        this.#counts.triggered++;
      } catch (err) {
        // the alert is not lost: a refused session in the journal and the status, and the failed hook
        const error = (err as Error).message;
        c.log.event('trigger-refused', { host: inv.name, reason: error });
        const t: Trigger = {
          id: newId(),
          host: this.#hosts.get(inv.name)!,
          sourceName: '',
          reason: { kind: 'eve', alert },
          listeners: new Set(),
          avoid: new Set(),
        };
        c.task(
          this.#runner
            .record(t, t.id, 1, null, c.clock.wallNow())
            .then((st) => this.#runner.conclude(st, t, { ok: false, error, retryable: false })),
        );
      }
    }
  }
}
