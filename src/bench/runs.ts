/**
 * What one bench run measures (the links to test, the flows to place, resources), what every run shares, and the
 * paper's plain copy run; the migrations are run by bench.ts.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { smigError } from '../errors.js';
import type { BenchLayout } from './layout.js';
import type { LinkSpec } from './link-analysis.js';
import { lastLine, PLAIN_COPY_JS, runProc, stopProc, waitFor } from './proc.js';
import type { BenchHop, BenchResources } from './result.js';
import type { Roles, RunCapture, Site } from './site.js';

/** What one run measured. */
export interface Measured {
  seconds: number;
  sha256: string;
  links: LinkSpec[];
  /** Filters of every link the source sends on (data direction), over their captures. */
  sourceLinks: LinkSpec[];
  /** The source's key relay links (both directions measured as flows). */
  keyLinks: LinkSpec[];
  /** The polls for the outcome beside each data connection (both directions measured as flows). */
  pollLinks: LinkSpec[];
  resources: Record<string, BenchResources>;
  captureDrops: number;
  hops: BenchHop[];
  /** The source's `pacing.oneHopSeconds` (a paced migration): the payload at its plan's mean payload rate. */
  oneHopSeconds?: number;
}

/** What every run shares. */
export interface RunContext {
  out: string;
  key: string;
  profile: string;
  payloads: Map<number, string>;
  layout: BenchLayout;
  roles: Roles;
  /** The lab's links are set like the capture's (MTU, TCP timestamps): `profile` runs shape for them. */
  matchLink: boolean;
}

/** The paper's "normal traffic" case: the same bytes copied over one plain TCP connection, source → destination. */
export async function plainOnce(
  site: Site,
  slot: number,
  ctx: RunContext,
  size: number,
  tag: string,
): Promise<Measured> {
  const { S, R } = ctx.roles;
  const dir = join(ctx.out, 'runs', tag);
  mkdirSync(dir, { recursive: true });
  const [host, listen] = [site.ip(slot, R), site.listen(slot, R)];
  const port = listen.slice(listen.lastIndexOf(':') + 1);
  const recv = runProc(
    [PLAIN_COPY_JS, 'recv', join(dir, 'image.bin'), host, port, '--sha256'],
    process.execPath,
    site.where(slot, R),
  );
  let capture: RunCapture | undefined;
  try {
    const rport = Number((await waitFor(recv, /listening \S+:(\d+)/, 'the plain receiver'))[1]);
    capture = await site.capture(slot, [S, R], [rport], (h) => join(ctx.out, 'captures', `${tag}-${h}.pcap`));
    const send = runProc(
      [PLAIN_COPY_JS, 'send', ctx.payloads.get(size)!, String(rport), host],
      process.execPath,
      site.where(slot, S),
    );
    const code = await send.exited;
    await recv.exited;
    await new Promise((r) => setTimeout(r, 300));
    const c = capture;
    capture = undefined;
    const captureDrops = await c.stop();
    if (code !== 0)
      throw smigError('SMIG_ERR_MIGRATION', `the plain copy (${size} bytes) exited ${code}: ${lastLine(send.stderr)}`);
    const s = JSON.parse(send.stdout) as { seconds: number; reply: string; cpuSeconds: number; maxRssKiB: number };
    const r = JSON.parse(recv.stdout) as { sha256: string; cpuSeconds: number; maxRssKiB: number };
    const link: LinkSpec = {
      link: 'source → destination',
      capture: c.fileOf(S),
      filter:
        site.kind === 'lab'
          ? `tcp and src host ${site.ip(slot, S)} and dst host ${site.ip(slot, R)}`
          : `tcp and dst port ${rport}`,
    };
    return {
      seconds: s.seconds,
      sha256: r.sha256,
      captureDrops,
      links: [link],
      sourceLinks: [link],
      keyLinks: [],
      pollLinks: [],
      hops: [],
      resources: {
        source: { cpuSeconds: s.cpuSeconds, maxRssKiB: s.maxRssKiB },
        destination: { cpuSeconds: r.cpuSeconds, maxRssKiB: r.maxRssKiB },
      },
    };
  } finally {
    if (capture) await capture.stop().catch(() => 0);
    await stopProc(recv);
  }
}
