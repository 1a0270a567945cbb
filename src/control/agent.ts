/**
 * The controller's agent inside `smig relay --controller H:P` (paper §5.2: every VM takes the
 * controller's instructions and notifies it, `make_available(VM)`).
 *
 * The agent keeps one TLS-PSK connection to the controller (reconnecting with backoff when it drops: a
 * controller restart loses nothing), registers (its name, relay address, whether it can receive, its
 * sources, and every session it is in or finished recently), sends heartbeats, and acts on INSTRUCT:
 *
 * - `relay`: be ready to relay session S (the relay daemon serves anyone with the cluster key anyway);
 *   the host is busy until its relay daemon has closed every link of S (`released`), or until the
 *   instruction's time-to-live passes without S ever arriving.
 * - `receive`: start a destination daemon for S on the relay's host, any free port, installing into
 *   `--out` (the paper's "open a port and listen"); answer with the port; close it once S is over.
 * - `send`: migrate one of its `--source`s as the source of S with the hosts the controller chose
 *   (runSource), and report the result — the destination's DONE — then `released`.
 * - `abort`: give up S (the source stops and tells its relays; a reservation never used is dropped).
 *
 * Decision: the envelope key is made by the source (runSource), not by the controller as in the paper's
 * `create_secret_key`. The source holds the plaintext anyway; a controller-made key would cross one more
 * link and sit in one more memory (and be at risk in the controller's journal) for no gain. The controller
 * does make the session id, which the source uses on the wire, so every host reports on the same id.
 */
import type { Identity, PublicIdentity } from '../crypto/identity.js';
import { parsePublicKey } from '../crypto/identity.js';
import { smigError } from '../errors.js';
import type { ChannelTimeouts } from '../net/connection-options.js';
import type { HostPort } from '../net/index.js';
import { connectChannel, formatHostPort, parseHostList, parseHostPort } from '../net/index.js';
import type { TimerClock, TimerHandle } from '../pacing/clock.js';
import { RealClock, repeat } from '../pacing/clock.js';
import { parsePlan } from '../pacing/plan.js';
import type { JsonObject, Message } from '../protocol/index.js';
import { FrameType } from '../protocol/index.js';
import { DestinationDaemon } from '../roles/destination.js';
import { Link } from '../roles/link.js';
import { runSource } from '../roles/source.js';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';
import { VM_SUFFIX } from '../vm/destination.js';
import { VmSource, vmModeFor } from '../vm/source.js';
import { channelBinding, signBody } from './auth.js';
import type { SessionOutcome } from './journal.js';
import type { SourceSpec } from './source-spec.js';
import { openSource } from './source-spec.js';
import type { AgentInstruct, AgentReport, AgentRole, AgentStatus } from './wire.js';
import { CONTROL_VERSION, MAX_REPORTS, parseAgentInstruct } from './wire.js';

export { type OpenedSource, openSource, parseSourceSpec, type SourceSpec } from './source-spec.js';

/** Options of {@link ControlAgent.start}. */
export interface AgentOptions {
  clusterKey: Uint8Array;
  /** The controller's `--listen` address. */
  controller: HostPort;
  /** The relay daemon's bound address (reported; a destination daemon listens on its host). */
  listen: HostPort;
  /** The inventory name to register as; default: the controller matches the relay address. */
  name?: string;
  /**
   * This host's identity (`--identity`): registration is signed with it (auth.ts); as a destination it accepts
   * only sessions sealed to it and signs its receipts (the controller seals to the inventory's `key` for this
   * host); as a source it signs what it seals. Absent: only unsealed sessions.
   */
  identity?: Identity;
  /** Serve as a destination, installing here. */
  outDir?: string;
  /** Data this host may be told to migrate away. */
  sources?: SourceSpec[];
  /** As a destination: restore `*.vmstate` sessions into a VM with this command template (smig recv --install-vm). */
  installVm?: string;
  log?: Logger;
  channel?: ChannelTimeouts;
  /** Longest wait between reconnection attempts. Default 2 s. */
  reconnectMaxMs?: number;
  /** The clock of heartbeats, reservations' time to live and reconnection backoff. Default the real one. */
  clock?: TimerClock;
  /** How to reach the controller. Default: a TLS-PSK channel to {@link controller} (tests pass an in-memory link). */
  dial?: (signal: AbortSignal) => Promise<ControllerLink>;
}

/** The agent's connection to the controller, as the agent uses it. */
export interface ControllerLink {
  /** The controller's address, for logs. */
  readonly remote: string;
  /** What the registration's signature is bound to: the TLS session's exporter value (auth.ts). */
  readonly binding: Uint8Array;
  /** Delivers each frame; a handler that throws fails the link. */
  start(onMessage: (msg: Message) => void): void;
  post(msg: Message): void;
  close(): Promise<void>;
  readonly ended: Promise<{ error?: Error }>;
}

/** The default {@link AgentOptions.dial}: a TLS-PSK channel to the controller. */
async function dialTls(o: AgentOptions, signal: AbortSignal): Promise<ControllerLink> {
  const conn = await connectChannel(o.controller, { key: o.clusterKey, ...o.channel, signal });
  const link = new Link(conn, 'control', `controller ${conn.remote}`);
  return {
    remote: conn.remote,
    binding: channelBinding(conn),
    start: (h) => link.start(h),
    post: (m) => link.post(m),
    close: () => link.close(),
    ended: link.ended,
  };
}

interface AgentSession {
  id: string;
  role: AgentRole;
  state: 'active' | 'done' | 'failed';
  /** The relay or destination daemon has seen the session. */
  opened: boolean;
  ttl?: TimerHandle;
  dest?: DestinationDaemon;
  abort?: AbortController;
  outcome?: SessionOutcome;
  error?: string;
}

/** Sessions remembered after they end (reported at registration, so a restarted controller can resolve them). */
const KEEP_FINISHED = 128;

/**
 * The agent of one relay daemon. Feed it the relay daemon's session events ({@link ControlAgent.relaySession}).
 * @example
 * let agent: ControlAgent | undefined;
 * const relay = await RelayDaemon.start({ ..., onSession: (e, id) => agent?.relaySession(e, id) });
 * agent = ControlAgent.start({ clusterKey, controller, listen: relay.address, outDir, sources });
 */
export class ControlAgent {
  readonly #o: AgentOptions;
  readonly #log: Logger;
  readonly #sources: Map<string, SourceSpec>;
  readonly #sessions = new Map<string, AgentSession>();
  readonly #stop = new AbortController();
  readonly #clock: TimerClock;
  #link: ControllerLink | null = null;
  #host: string | null = null;
  #refusal: string | null = null;
  #heartbeat: TimerHandle | undefined;
  #loop: Promise<void> = Promise.resolve();

  private constructor(o: AgentOptions) {
    this.#o = o;
    this.#clock = o.clock ?? new RealClock({ spinMs: 0 });
    this.#log = (o.log ?? silentLogger).with({ controller: formatHostPort(o.controller) });
    this.#sources = new Map((o.sources ?? []).map((s) => [s.name, s]));
    if (this.#sources.size !== (o.sources ?? []).length)
      throw smigError('SMIG_ERR_USAGE', '--source: a name is given twice');
  }

  /** Starts connecting (in the background; the controller may come up later). */
  static start(o: AgentOptions): ControlAgent {
    const a = new ControlAgent(o);
    a.#loop = a.#connectLoop();
    return a;
  }

  /** The inventory name the controller registered us as; null while not registered. */
  get host(): string | null {
    return this.#host;
  }

  /** Sessions this agent is busy with (ids). */
  get active(): string[] {
    return [...this.#sessions.values()].filter((s) => s.state === 'active').map((s) => s.id);
  }

  /** The relay daemon's session events: `open` when a session's first link arrives, `end` when its last closes. */
  relaySession(event: 'open' | 'end', session: string): void {
    const s = this.#sessions.get(session);
    if (s === undefined || s.role !== 'relay' || s.state !== 'active') return; // not one the controller gave us
    if (event === 'open') s.opened = true;
    else this.#release(s, 'done');
  }

  /** Disconnects, aborts a running source, closes destination daemons. */
  async close(): Promise<void> {
    this.#stop.abort();
    this.#heartbeat?.cancel();
    for (const s of this.#sessions.values()) {
      s.abort?.abort();
      s.ttl?.cancel();
    }
    await Promise.all([...this.#sessions.values()].map((s) => s.dest?.close()));
    await this.#link?.close();
    await this.#loop;
  }

  async #connectLoop(): Promise<void> {
    let backoff = 100;
    let reported = false;
    const max = this.#o.reconnectMaxMs ?? 2000;
    const dial = this.#o.dial ?? ((signal: AbortSignal) => dialTls(this.#o, signal));
    while (!this.#stop.signal.aborted) {
      let conn: ControllerLink | undefined;
      try {
        conn = await dial(this.#stop.signal);
      } catch (err) {
        if (!reported) this.#log.event('controller-unreachable', { reason: (err as Error).message });
        reported = true;
      }
      if (conn !== undefined) {
        reported = false;
        backoff = 100;
        await this.#serve(conn);
      }
      if (this.#stop.signal.aborted) return;
      await this.#clock.sleep(backoff, this.#stop.signal).catch(() => {}); // aborted: the loop ends
      backoff = Math.min(max, backoff * 2);
    }
  }

  /** One connection to the controller, until it closes. */
  async #serve(link: ControllerLink): Promise<void> {
    this.#link = link;
    link.start((msg) => this.#onMessage(msg, link.binding));
    const end = await link.ended; // registration answers the controller's challenge (#onMessage)
    this.#heartbeat?.cancel();
    this.#link = null;
    if (this.#host !== null) this.#log.event('controller-lost', { host: this.#host, reason: end.error?.message });
    this.#host = null;
  }

  #onMessage(msg: Message, binding: Uint8Array): void {
    if (msg.type !== FrameType.INSTRUCT) return; // PING is answered by the link; STATUS is not for us
    const m = parseAgentInstruct(msg.payload); // a malformed instruction fails the connection (ERROR), we reconnect
    switch (m.type) {
      case 'challenge': {
        if (this.#host !== null) return; // registered already: a second challenge means nothing
        const body: Record<string, unknown> = {
          type: 'register',
          v: CONTROL_VERSION,
          name: this.#o.name ?? null,
          listen: formatHostPort(this.#o.listen),
          out: this.#o.outDir !== undefined,
          sources: [...this.#sources.keys()],
          sessions: this.#reports(),
        };
        if (this.#o.identity !== undefined) body.sig = signBody(this.#o.identity, 'register', m.nonce, binding, body);
        this.#post(body as unknown as AgentStatus);
        return;
      }
      case 'registered':
        this.#host = m.host;
        this.#refusal = null;
        this.#log.event('registered', { host: m.host });
        this.#heartbeat?.cancel();
        this.#heartbeat = repeat(this.#clock, m.heartbeatMs, () =>
          this.#post({ type: 'heartbeat', active: this.active.slice(0, MAX_REPORTS) }),
        );
        return;
      case 'refused':
        // it retries (the inventory may be fixed and the controller restarted); the same reason is logged once
        if (m.error !== this.#refusal) this.#log.event('registration-refused', { reason: m.error });
        this.#refusal = m.error;
        void this.#link?.close();
        return;
      case 'relay':
      case 'receive':
        void this.#reserve(m);
        return;
      case 'send':
        this.#send(m);
        return;
      case 'abort':
        this.#abort(m.session, m.reason);
        return;
    }
  }

  async #reserve(m: Extract<AgentInstruct, { type: 'relay' | 'receive' }>): Promise<void> {
    if (this.#sessions.has(m.session)) {
      this.#post({ type: 'nack', session: m.session, error: 'this session was already given to this host' });
      return;
    }
    const s: AgentSession = {
      id: m.session,
      role: m.type === 'relay' ? 'relay' : 'destination',
      state: 'active',
      opened: false,
    };
    this.#remember(s);
    s.ttl = this.#clock.timer(m.ttlMs, () => {
      if (!s.opened) this.#release(s, 'failed', 'the session never arrived');
    });
    if (m.type === 'relay') {
      this.#post({ type: 'ack', session: m.session });
      return;
    }
    if (this.#o.outDir === undefined) {
      this.#release(s, 'failed', 'this host has no --out directory');
      this.#post({ type: 'nack', session: m.session, error: 'this host has no --out directory' });
      return;
    }
    try {
      s.dest = await DestinationDaemon.start({
        clusterKey: this.#o.clusterKey,
        listen: { host: this.#o.listen.host, port: 0 },
        outDir: this.#o.outDir,
        ...(this.#o.identity === undefined ? {} : { identity: this.#o.identity }),
        ...(this.#o.identity === undefined || m.sourceKey === null
          ? {}
          : { trustedSources: [parsePublicKey(m.sourceKey, 'INSTRUCT receive.sourceKey')] }),
        maxSessions: 1,
        ...(this.#o.installVm === undefined ? {} : { vm: { command: this.#o.installVm } }),
        log: this.#o.log,
        channel: this.#o.channel,
        onSession: (event: 'open' | 'end', id: string) => {
          if (id !== s.id) return;
          if (event === 'open') s.opened = true;
          else this.#release(s, 'done');
        },
      });
    } catch (err) {
      this.#release(s, 'failed', (err as Error).message);
      this.#post({ type: 'nack', session: m.session, error: (err as Error).message });
      return;
    }
    if (s.state !== 'active') {
      void s.dest.close(); // aborted while starting
      return;
    }
    this.#log.event('receiving', { session: s.id.slice(0, 16), addr: formatHostPort(s.dest.address) });
    this.#post({ type: 'ack', session: m.session, port: s.dest.address.port });
  }

  #send(m: Extract<AgentInstruct, { type: 'send' }>): void {
    const spec = this.#sources.get(m.source);
    const refuse = (error: string): void => this.#post({ type: 'nack', session: m.session, error });
    if (this.#sessions.has(m.session)) return refuse('this session was already given to this host');
    if (spec === undefined)
      return refuse(`no --source named '${m.source}' on this host (${[...this.#sources.keys()].join(', ') || 'none'})`);
    let hosts: { destination: HostPort; dataRelays: HostPort[]; keyRelays: HostPort[]; leader: HostPort };
    let plan;
    let destKey: PublicIdentity | undefined;
    try {
      destKey = m.destKey === null ? undefined : parsePublicKey(m.destKey, 'INSTRUCT send.destKey');
      hosts = {
        destination: parseHostPort(m.destination, 'destination'),
        dataRelays: parseHostList(m.dataRelays.join(','), 'dataRelays'),
        keyRelays: parseHostList(m.keyRelays.join(','), 'keyRelays'),
        leader: parseHostPort(m.leader, 'leader'),
      };
      plan = m.plan === null ? undefined : parsePlan(m.plan, 'INSTRUCT send.plan');
    } catch (err) {
      return refuse((err as Error).message);
    }
    const s: AgentSession = {
      id: m.session,
      role: 'source',
      state: 'active',
      opened: true,
      abort: new AbortController(),
    };
    this.#remember(s);
    this.#post({ type: 'ack', session: m.session });
    const log = this.#log.with({ session: m.session.slice(0, 16) });
    log.event('source-start', { source: spec.name, destination: m.destination, leader: m.leader });
    void (async (): Promise<void> => {
      const vm =
        typeof spec.qmp === 'string'
          ? await VmSource.open({ qmp: spec.qmp, mode: vmModeFor(plan?.strategy ?? 'bulk'), log })
          : undefined;
      const input =
        vm !== undefined
          ? { stream: vm.stream(), length: null, name: `${spec.name}${VM_SUFFIX}` }
          : await openSource(spec, s.abort!.signal);
      const r = await runSource({
        clusterKey: this.#o.clusterKey,
        input: input.stream,
        length: input.length,
        name: input.name,
        ...hosts,
        threshold: m.threshold,
        sessionId: Buffer.from(m.session, 'hex'),
        plan,
        ...(destKey === undefined ? {} : { destKey }),
        ...(destKey === undefined || this.#o.identity === undefined ? {} : { identity: this.#o.identity }),
        log,
        channel: this.#o.channel,
        signal: s.abort!.signal,
      }).catch(async (err: unknown) => {
        await vm?.abort((err as Error).message ?? String(err)); // the VM runs on at the source
        throw err;
      });
      if (vm !== undefined) {
        const v = await vm.confirm(); // only now, after the destination's DONE, is the source VM given up
        log.event('vm-migrated', {
          mode: v.mode,
          streamBytes: v.streamBytes,
          totalSeconds: v.totalSeconds,
          downtimeSeconds: v.downtimeSeconds,
        });
      }
      s.outcome = {
        bytes: r.bytes,
        sha256: r.done.sha256,
        seconds: r.seconds,
        lostRelays: r.lostRelays,
        resentChunks: r.resentChunks,
        exitStatus: r.done.exitStatus,
      };
    })().then(
      () => {
        this.#post({ type: 'result', session: s.id, ok: true, outcome: s.outcome! });
        this.#release(s, 'done');
      },
      (err: unknown) => {
        const error = (err as Error).message ?? String(err);
        log.event('source-failed', { reason: error });
        this.#post({ type: 'result', session: s.id, ok: false, error });
        this.#release(s, 'failed', error);
      },
    );
  }

  #abort(id: string, reason: string): void {
    const s = this.#sessions.get(id);
    if (s === undefined || s.state !== 'active') {
      this.#post({ type: 'released', session: id }); // nothing held: say so, the controller may be waiting
      return;
    }
    this.#log.event('abort', { session: id.slice(0, 16), role: s.role, reason });
    if (s.role === 'source') s.abort?.abort();
    else if (!s.opened) this.#release(s, 'failed', `aborted: ${reason}`);
    // an opened relay or destination session ends when its links close (the source's failure closes them)
  }

  #release(s: AgentSession, state: 'done' | 'failed', error?: string): void {
    if (s.state !== 'active') return;
    s.state = state;
    if (error !== undefined) s.error = error;
    s.ttl?.cancel();
    if (s.dest !== undefined) void s.dest.close();
    this.#log.event('released', { session: s.id.slice(0, 16), role: s.role, state, reason: error });
    this.#post({ type: 'released', session: s.id });
  }

  #remember(s: AgentSession): void {
    this.#sessions.set(s.id, s);
    if (this.#sessions.size <= KEEP_FINISHED) return;
    for (const [id, old] of this.#sessions) {
      if (this.#sessions.size <= KEEP_FINISHED) break;
      if (old.state !== 'active') this.#sessions.delete(id);
    }
  }

  #reports(): AgentReport[] {
    const all = [...this.#sessions.values()];
    return all.slice(-MAX_REPORTS).map((s) => {
      const r: AgentReport = { session: s.id, role: s.role, state: s.state };
      if (s.outcome !== undefined) r.outcome = s.outcome;
      if (s.error !== undefined) r.error = s.error.slice(0, 1000);
      return r;
    });
  }

  #post(m: AgentStatus): void {
    this.#link?.post({ type: FrameType.STATUS, payload: m as unknown as JsonObject });
  }
}
