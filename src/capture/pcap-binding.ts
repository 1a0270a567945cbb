/**
 * The `pcap` package's native binding (an optionalDependency) as live capture uses it: loading it once,
 * listing the interfaces libpcap sees, and reading what it hands over (link-type names, the 16-byte record
 * header, the errors of pcap_open_live).
 */

import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import { smigError } from '../errors.js';

/** The native session of the `pcap` package (pcap_binding.node) as we use it. */
export interface NativeSession {
  open_live(
    device: string,
    filter: string,
    bufferSize: number,
    snaplen: number,
    outfile: string,
    onPacket: () => void,
    monitor: boolean,
    bufferTimeout: number,
    onWarning: (msg: string) => void,
    promiscuous: boolean,
  ): string;
  dispatch(buffer: Buffer, header: Buffer): number;
  close(): void;
  stats(): { ps_recv: number; ps_drop: number; ps_ifdrop: number };
}
export interface PcapBinding {
  PcapSession: new () => NativeSession;
  findalldevs(): { name: string; description?: string; addresses?: { addr?: string }[]; flags?: string }[];
  lib_version(): string;
}

/** The command that installs what live capture needs (Debian/Ubuntu). */
export const CAPTURE_INSTALL_HINT: string = 'apt-get install libpcap-dev && npm install pcap';

let binding: Promise<PcapBinding> | undefined;

/**
 * Loads the `pcap` binding once.
 * @throws SmigError SMIG_ERR_CAPTURE_LIVE when the package or libpcap is missing, naming the install command.
 */
export async function loadPcap(): Promise<PcapBinding> {
  binding ??= (async () => {
    try {
      // resolve through the ESM loader first (so a missing package reads as such), then load the native part
      await import('pcap' as string);
      return createRequire(import.meta.url)('pcap/build/Release/pcap_binding.node') as PcapBinding;
    } catch (err) {
      binding = undefined;
      const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
      throw smigError(
        'SMIG_ERR_CAPTURE_LIVE',
        `live capture needs the optional package pcap and libpcap (${why}); install them: ${CAPTURE_INSTALL_HINT}`,
        err,
      );
    }
  })();
  return binding;
}

/** One interface libpcap can open. */
export interface CaptureDevice {
  name: string;
  description?: string;
  addresses: string[];
  loopback: boolean;
}

/** The interfaces libpcap sees in this network namespace (`pcap_findalldevs`). */
export async function listDevices(): Promise<CaptureDevice[]> {
  const b = await loadPcap();
  return b.findalldevs().map((d) => ({
    name: d.name,
    ...(d.description ? { description: d.description } : {}),
    addresses: (d.addresses ?? []).map((a) => a.addr).filter((a): a is string => typeof a === 'string'),
    loopback: (d.flags ?? '').includes('LOOPBACK'),
  }));
}

// the link-type strings of the binding's open_live (tcpdump.org LINKTYPE registry)
const LINKTYPES: Record<string, number> = {
  LINKTYPE_NULL: 0,
  LINKTYPE_ETHERNET: 1,
  LINKTYPE_RAW: 101,
  LINKTYPE_LINUX_SLL: 113,
  LINKTYPE_IEEE802_11_RADIO: 127,
};

/** Maps the binding's link-type string to a LINKTYPE_* number; `Unknown linktype N` carries the DLT (equal to the LINKTYPE for these). */
export function pcapLinktype(name: string): number {
  const known = LINKTYPES[name];
  if (known !== undefined) return known;
  const m = /^Unknown linktype (\d+)$/.exec(name);
  if (m) return Number(m[1]);
  throw smigError('SMIG_ERR_CAPTURE_LIVE', `libpcap reported an unknown link type '${name}'`);
}

/** libpcap's 16-byte record header as the binding copies it (host byte order). */
export interface RecordHeader {
  tsNs: bigint;
  caplen: number;
  len: number;
}

const LE = endianness() === 'LE';

/** Reads the binding's header: tv_sec (32 bits), tv_usec, caplen, len; the stamp as integer ns. */
export function readRecordHeader(h: Buffer): RecordHeader {
  const u = (o: number): number => (LE ? h.readUInt32LE(o) : h.readUInt32BE(o));
  return { tsNs: BigInt(u(0)) * 1_000_000_000n + BigInt(u(4)) * 1000n, caplen: u(8), len: u(12) };
}

/** Maps an error of pcap_open_live to a typed error naming the option at fault. */
export function openError(iface: string, filter: string, err: unknown): Error {
  const why = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
  if (/permission|not permitted/i.test(why))
    return smigError('SMIG_ERR_PERMISSION', `-i ${iface}: ${why} (capturing needs root or CAP_NET_RAW)`, err);
  if (/no such device|doesn't exist/i.test(why)) return smigError('SMIG_ERR_USAGE', `-i ${iface}: ${why}`, err);
  if (filter !== '' && /syntax error|filter|parse|unknown|illegal|expression/i.test(why))
    return smigError('SMIG_ERR_FILTER', `-f '${filter}': ${why}`, err);
  return smigError('SMIG_ERR_CAPTURE_LIVE', `-i ${iface}: ${why}`, err);
}
