/**
 * The pure half of the lab: names, addresses, the `ip`/`tc` batches that build a lab, and its state
 * record. Nothing here runs a command, so every decision is testable without root.
 *
 * Layout (everything lives in namespaces named `smig-LAB-…`; the host's own namespace is never touched):
 * ```
 *   smig-LAB-h1            smig-LAB-br                    smig-LAB-h2
 *   eth0 10.77.0.1 ──veth── vh1 ─┐                  ┌─ vh2 ──veth── eth0 10.77.0.2
 *                                └─ br0 (bridge) ───┘ …
 * ```
 * Each veth pair is created from inside the bridge namespace with its peer placed straight into the
 * host's namespace, so no interface ever exists in the caller's namespace, even for a moment.
 */
import { isIP } from 'node:net';
import { smigError } from '../errors.js';

/** Namespaces, and nothing else, carry this prefix; `down` and the leftover sweep match on it. */
export const NS_PREFIX = 'smig-';
/** Interface of every host (in its own namespace) and the bridge (in the bridge namespace). */
export const HOST_IF = 'eth0';
export const BRIDGE_IF = 'br0';
/** Default lab subnet: private (RFC 1918), and reachable only inside the lab's namespaces. */
export const DEFAULT_SUBNET = '10.77.0.0/24';
/** The IPv6 prefix of a lab with IPv6 (unique local, RFC 4193): host N is `fd77::N` in hex, beside its IPv4 address. */
export const SUBNET6 = 'fd77::/64';
/** IPv6's least link MTU (RFC 8200 §5): a lab with IPv6 takes no smaller one. */
export const MIN_MTU6 = 1280;
/** The most hosts one lab holds. */
export const MAX_HOSTS = 250;
/** Default link MTU of a lab (Ethernet). */
export const DEFAULT_MTU = 1500;
/**
 * Smallest and largest link MTU a lab takes: IPv4's minimum datagram, and a veth's largest (65535 less Ethernet's
 * 14 B, so that a frame's wire size fits a plan's segment): above 1500, a lab matches a capture made with receive
 * offload (merged segments of up to 64 KiB) or on jumbo frames.
 */
export const MIN_MTU = 576;
export const MAX_MTU = 65_521;

/** Per-link shaping, applied on each host's egress (so host→host one-way delay is `delayNs`, RTT twice it). */
export interface LinkShaping {
  /** Added one-way delay, integer ns (tc netem). */
  delayNs?: bigint;
  /** Random loss in percent, 0 < p ≤ 100 (tc netem). */
  lossPct?: number;
  /** Egress rate limit in bytes/s (tc tbf). */
  rateBps?: number;
}

/**
 * How the hosts' TCP looks on the wire, so that a lab can match the capture a profile was learned from: the
 * link MTU (full segments are MTU + 14 bytes on Ethernet) and whether TCP timestamps are on (pure ACKs of 66
 * bytes, as Linux sends by default) or off (54 bytes: what Windows and many middleboxes send).
 */
export interface LabLinkOptions {
  /** MTU of every host link and bridge port, {@link MIN_MTU}..{@link MAX_MTU} (default {@link DEFAULT_MTU}). */
  mtu?: number;
  /** `net.ipv4.tcp_timestamps` in every host's namespace (default: on, the kernel's default). */
  tcpTimestamps?: boolean;
  /**
   * Every host also gets an IPv6 address ({@link SUBNET6}; no link-local address, no duplicate address detection,
   * no router solicitations), so that a lab can match a capture of TCP over IPv6 (20 bytes more per packet).
   */
  ipv6?: boolean;
}

/** One lab host as recorded in the state file. */
export interface LabHostState {
  /** `h1` … `hN`. */
  name: string;
  /** Its network namespace. */
  ns: string;
  /** IPv4 address on `eth0`. */
  address: string;
  /** IPv6 address on `eth0` (a lab with IPv6 only). */
  address6?: string;
  /** Its veth end in the bridge namespace (capture here to see the host's link from the switch). */
  bridgePort: string;
}

/** What `lab up` records under /run/smig/labs/LAB.json. */
export interface LabState {
  version: 1;
  name: string;
  subnet: string;
  prefixLength: number;
  bridgeNs: string;
  hosts: LabHostState[];
  shaping: { delayNs?: string; lossPct?: number; rateBps?: number };
  /**
   * How offloads were turned off: `ethtool` (features off: TSO, GSO, GRO and TX checksumming, plus the
   * `ip` limits) or `ip` only (gso_max_segs 1, gro_max_size 0: wire-size packets all the same).
   */
  offloads: 'ethtool' | 'ip';
  /** Link MTU (absent in state files of older labs: {@link DEFAULT_MTU}). */
  mtu?: number;
  /** TCP timestamps in the hosts (absent: on). */
  tcpTimestamps?: boolean;
  /** The hosts have IPv6 addresses too (absent: IPv4 only). */
  ipv6?: boolean;
  createdAt: string;
}

/**
 * A lab name: a lower-case letter then up to 9 letters or digits (it becomes part of namespace names;
 * no `-`, so one lab's prefix never matches another's).
 * @throws SmigError SMIG_ERR_USAGE
 */
export function checkLabName(name: string): string {
  if (!/^[a-z][a-z0-9]{0,9}$/.test(name)) {
    throw smigError(
      'SMIG_ERR_USAGE',
      `lab name '${name}': expected a lower-case letter then up to 9 letters or digits`,
    );
  }
  return name;
}

/** The namespace prefix of one lab: `smig-LAB-`. */
export function labPrefix(name: string): string {
  return `${NS_PREFIX}${checkLabName(name)}-`;
}

/** IPv4 dotted quad → unsigned 32-bit number; undefined if malformed. */
function ipv4ToNumber(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

function numberToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/**
 * Parses `A.B.C.D/P` (8 ≤ P ≤ 30) and returns the network address and prefix; host bits must be zero.
 * @throws SmigError SMIG_ERR_BAD_ADDRESS
 */
export function parseSubnet(text: string): { network: number; prefixLength: number } {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text.trim());
  const addr = m ? ipv4ToNumber(m[1]!) : undefined;
  const p = m ? Number(m[2]) : NaN;
  if (addr === undefined || !(p >= 8 && p <= 30)) {
    throw smigError(
      'SMIG_ERR_BAD_ADDRESS',
      `--subnet '${text}': expected an IPv4 network like 10.77.0.0/24 (prefix 8..30)`,
    );
  }
  const hostMask = 2 ** (32 - p) - 1;
  if (addr % (hostMask + 1) !== 0) {
    throw smigError(
      'SMIG_ERR_BAD_ADDRESS',
      `--subnet '${text}': host bits are set (network address is ${numberToIpv4(addr - (addr % (hostMask + 1)))}/${p})`,
    );
  }
  return { network: addr, prefixLength: p };
}

/**
 * Host addresses of a lab: the network address + 1, + 2, … (h1 is `.1`).
 * @throws SmigError SMIG_ERR_USAGE when the hosts do not fit (network and broadcast addresses excluded).
 */
export function hostAddresses(subnet: string, count: number): string[] {
  const { network, prefixLength } = parseSubnet(subnet);
  const usable = 2 ** (32 - prefixLength) - 2;
  if (count > usable) throw smigError('SMIG_ERR_USAGE', `--hosts ${count}: ${subnet} has room for ${usable}`);
  return Array.from({ length: count }, (_, i) => numberToIpv4(network + i + 1));
}

/** Options of a lab (after parsing). */
export interface LabSpec extends LinkShaping, LabLinkOptions {
  name: string;
  hosts: number;
  subnet?: string;
}

/**
 * The state a lab will have: names and addresses of every host.
 * @throws SmigError SMIG_ERR_USAGE / SMIG_ERR_BAD_ADDRESS for a bad name, count, subnet or shaping value.
 */
export function planLab(spec: LabSpec, offloads: LabState['offloads'] = 'ip', now: Date = new Date()): LabState {
  const prefix = labPrefix(spec.name);
  if (!Number.isInteger(spec.hosts) || spec.hosts < 1 || spec.hosts > MAX_HOSTS) {
    throw smigError('SMIG_ERR_USAGE', `--hosts: expected 1..${MAX_HOSTS}, got ${spec.hosts}`);
  }
  if (spec.lossPct !== undefined && !(spec.lossPct > 0 && spec.lossPct <= 100)) {
    throw smigError('SMIG_ERR_USAGE', `--loss: expected a percentage in (0, 100], got ${spec.lossPct}`);
  }
  if (spec.delayNs !== undefined && spec.delayNs <= 0n)
    throw smigError('SMIG_ERR_USAGE', '--delay: expected a positive duration');
  if (spec.rateBps !== undefined && !(spec.rateBps >= 1000))
    throw smigError('SMIG_ERR_USAGE', `--rate: expected at least 1000 B/s (8kbit/s), got ${spec.rateBps} B/s`);
  if (spec.mtu !== undefined && !(Number.isInteger(spec.mtu) && spec.mtu >= MIN_MTU && spec.mtu <= MAX_MTU))
    throw smigError('SMIG_ERR_USAGE', `--mtu: expected an integer from ${MIN_MTU} to ${MAX_MTU}, got ${spec.mtu}`);
  if (spec.ipv6 && (spec.mtu ?? DEFAULT_MTU) < MIN_MTU6)
    throw smigError('SMIG_ERR_USAGE', `--mtu ${spec.mtu}: IPv6 needs a link MTU of at least ${MIN_MTU6}`);
  const subnet = spec.subnet ?? DEFAULT_SUBNET;
  const { prefixLength } = parseSubnet(subnet);
  const addresses = hostAddresses(subnet, spec.hosts);
  return {
    version: 1,
    name: spec.name,
    subnet,
    prefixLength,
    bridgeNs: `${prefix}br`,
    hosts: addresses.map((address, i) => ({
      name: `h${i + 1}`,
      ns: `${prefix}h${i + 1}`,
      address,
      ...(spec.ipv6 ? { address6: `${SUBNET6.slice(0, -3)}${(i + 1).toString(16)}` } : {}),
      bridgePort: `vh${i + 1}`,
    })),
    shaping: {
      ...(spec.delayNs !== undefined ? { delayNs: spec.delayNs.toString() } : {}),
      ...(spec.lossPct !== undefined ? { lossPct: spec.lossPct } : {}),
      ...(spec.rateBps !== undefined ? { rateBps: spec.rateBps } : {}),
    },
    offloads,
    ...(spec.mtu !== undefined && spec.mtu !== DEFAULT_MTU ? { mtu: spec.mtu } : {}),
    ...(spec.tcpTimestamps === false ? { tcpTimestamps: false } : {}),
    ...(spec.ipv6 ? { ipv6: true } : {}),
    createdAt: now.toISOString(),
  };
}

/** One step of building a lab: run `argv[0]` with `argv[1..]`, feeding `stdin` (an `-batch -` script) if given. */
export interface LabStep {
  what: string;
  argv: string[];
  stdin?: string;
}

/**
 * Interface limits that make captures show wire packets without ethtool: at most one segment per GSO
 * packet (TCP hands the device MSS-sized skbs) and no GRO merging.
 */
const NO_OFFLOAD = 'gso_max_segs 1 gro_max_size 0';
/**
 * ethtool features turned off when ethtool is there. Beyond packet sizes this gives captures real TCP
 * checksums (no CHECKSUM_PARTIAL) and lets libpcap size its ring slots to the MTU instead of 64 KiB
 * (pcap-linux.c sizes TPACKET_V2 frames from the MTU only when no offload is on): measured here, a
 * 64 MiB ring of a stopped capture held 1,023 packets with offloads on and all 4,057 of a 3 MB
 * transfer with them off.
 */
const ETHTOOL_OFF = 'tx off tso off gso off gro off';
/**
 * A host's own device with ethtool: software GSO without TSO, as a NIC's TSO does on real hosts. TCP hands the
 * device a write's segments as one skb and the device cuts it, so they leave back to back: measured on the lab,
 * full segments of one 16 kB write 1–2 µs apart (median), against 5–6 µs when TCP sends each segment through
 * the stack, and 10–20 µs on a bench's loaded links. The segments still pass the switch port as wire packets
 * (the port's own offloads stay off). GSO needs scatter-gather and so TX checksumming: the captured TCP
 * checksums are left to the hardware, as in any capture taken on a host with checksum offload.
 */
const ETHTOOL_HOST = 'tx on sg on tso off gso on gro off';
/**
 * A host's device limits with ethtool: no GRO merging (GSO is left to {@link ETHTOOL_HOST}). Not on a shaped lab:
 * netem and tbf on the host's egress would see a write's segments as one skb (netem's loss would drop them all).
 */
const HOST_NO_GRO = 'gro_max_size 0';
/** IPv6 settings of a lab host's eth0: no router solicitations and no router advertisements accepted. */
const IPV6_QUIET = `d=/proc/sys/net/ipv6/conf/${HOST_IF}; echo 0 > $d/router_solicitations && echo 0 > $d/accept_ra`;
/** Sets `net.ipv4.tcp_pingpong_thresh` to its largest (roles/echo.ts `PINGPONG_OFF_THRESH`) where the kernel has it. */
export const PINGPONG_OFF = 'f=/proc/sys/net/ipv4/tcp_pingpong_thresh; if [ -e "$f" ]; then echo 255 > "$f"; fi';

/**
 * The commands that build `state`, in order: namespaces, the bridge namespace (bridge, veth pairs with
 * their peers placed in the hosts' namespaces), each host (lo, eth0: no IPv6 link-local so the lab is
 * quiet, the lab's MTU, offloads off, address; TCP timestamps off if the lab says so), then shaping. Every `ip`/`tc` call names a lab namespace.
 * `ethtool`: its path when `state.offloads` is 'ethtool'.
 */
export function planUp(state: LabState, ethtool: string = 'ethtool'): LabStep[] {
  const sh = `'${ethtool.replaceAll("'", "'\\''")}'`;
  const features = (ns: string, ifs: string[], set: string = ETHTOOL_OFF): LabStep => ({
    what: set === ETHTOOL_OFF ? `turn offloads off in ${ns}` : `segment in software in ${ns}`,
    argv: ['ip', 'netns', 'exec', ns, '/bin/sh', '-c', ifs.map((i) => `${sh} -K ${i} ${set} >/dev/null`).join(' && ')],
  });
  const br = state.bridgeNs;
  const mtu = state.mtu ?? DEFAULT_MTU;
  const { delayNs, lossPct, rateBps } = state.shaping;
  const gso = state.offloads === 'ethtool' && delayNs === undefined && lossPct === undefined && rateBps === undefined;
  const steps: LabStep[] = [
    {
      what: 'create namespaces',
      argv: ['ip', '-batch', '-'],
      stdin: [br, ...state.hosts.map((h) => h.ns)].map((ns) => `netns add ${ns}\n`).join(''),
    },
  ];
  const brScript = [
    'link set lo up',
    // no STP, no forward delay: a port forwards as soon as it is up
    // with IPv6, no multicast snooping: neighbour solicitations reach every port without an MLD querier
    `link add ${BRIDGE_IF} type bridge stp_state 0 forward_delay 0${state.ipv6 ? ' mcast_snooping 0' : ''}`,
    `link set ${BRIDGE_IF} addrgenmode none`,
  ];
  for (const h of state.hosts) {
    brScript.push(
      `link add ${h.bridgePort} type veth peer name ${HOST_IF} netns ${h.ns}`,
      // before the MTU: a device under 1280 has no IPv6, and addrgenmode then fails
      `link set ${h.bridgePort} addrgenmode none`,
      `link set ${h.bridgePort} mtu ${mtu}`,
      `link set ${h.bridgePort} ${NO_OFFLOAD}`,
      `link set ${h.bridgePort} master ${BRIDGE_IF}`,
      `link set ${h.bridgePort} up`,
    );
  }
  brScript.push(`link set ${BRIDGE_IF} up`);
  steps.push({
    what: `build the bridge in ${br}`,
    argv: ['ip', '-n', br, '-batch', '-'],
    stdin: brScript.map((l) => `${l}\n`).join(''),
  });
  if (state.offloads === 'ethtool')
    steps.push(
      features(
        br,
        state.hosts.map((h) => h.bridgePort),
      ),
    );
  for (const h of state.hosts) {
    const script = [
      'link set lo up',
      `link set ${HOST_IF} addrgenmode none`,
      `link set ${HOST_IF} mtu ${mtu}`,
      `link set ${HOST_IF} ${gso ? HOST_NO_GRO : NO_OFFLOAD}`,
      `addr add ${h.address}/${state.prefixLength} dev ${HOST_IF}`,
      // nodad: usable at once (no tentative state); the prefix route makes every other host on-link
      ...(h.address6 !== undefined ? [`addr add ${h.address6}/64 dev ${HOST_IF} nodad`] : []),
      `link set ${HOST_IF} up`,
    ];
    steps.push({
      what: `set up ${h.name} in ${h.ns}`,
      argv: ['ip', '-n', h.ns, '-batch', '-'],
      stdin: script.map((l) => `${l}\n`).join(''),
    });
    if (state.offloads === 'ethtool') steps.push(features(h.ns, [HOST_IF], gso ? ETHTOOL_HOST : ETHTOOL_OFF));
    // per namespace since Linux 4.10; written through /proc so that no sysctl binary is needed
    if (state.tcpTimestamps === false)
      steps.push({
        what: `turn TCP timestamps off in ${h.ns}`,
        argv: ['ip', 'netns', 'exec', h.ns, '/bin/sh', '-c', 'echo 0 > /proc/sys/net/ipv4/tcp_timestamps'],
      });
    // a quiet IPv6: no router solicitations, no router advertisements taken (written before the link is used)
    if (h.address6 !== undefined)
      steps.push({
        what: `quiet IPv6 in ${h.ns}`,
        argv: ['ip', 'netns', 'exec', h.ns, '/bin/sh', '-c', IPV6_QUIET],
      });
    // never TCP's interactive mode, so that one small segment is ACKed as soon as it is read: a shaped link's
    // receiver then needs one echo PAD per ACK of the plan instead of two (roles/echo.ts); the sysctl is Linux 6.6's
    steps.push({
      what: `keep ${h.ns}'s TCP out of interactive mode`,
      argv: ['ip', 'netns', 'exec', h.ns, '/bin/sh', '-c', PINGPONG_OFF],
    });
    const tc = shapingCommands(state.shaping, mtu);
    if (tc.length > 0)
      steps.push({
        what: `shape ${h.name}'s link`,
        argv: ['tc', '-n', h.ns, '-batch', '-'],
        stdin: tc.map((l) => `${l}\n`).join(''),
      });
  }
  return steps;
}

/** tc `rate` argument in bit/s (integer). */
function tcRate(bytesPerSecond: number): string {
  return `${Math.max(1, Math.round(bytesPerSecond * 8))}bit`;
}

/**
 * The `tc` lines (for `tc -batch`) shaping a host's egress on eth0: netem for delay/loss as the root,
 * tbf for the rate (root, or netem's child 1:1 as tc-netem(8) shows). tbf's burst is one jiffy's worth
 * at HZ=250 (the tc-tbf(8) rule rate/HZ) and at least two full frames; its queue holds 100 ms.
 */
export function shapingCommands(s: LabState['shaping'], mtu: number = DEFAULT_MTU): string[] {
  const lines: string[] = [];
  const netem: string[] = [];
  if (s.delayNs !== undefined) netem.push(`delay ${BigInt(s.delayNs) / 1000n}us`);
  if (s.lossPct !== undefined) netem.push(`loss ${s.lossPct}%`);
  if (netem.length > 0) lines.push(`qdisc add dev ${HOST_IF} root handle 1: netem ${netem.join(' ')}`);
  if (s.rateBps !== undefined) {
    const burst = Math.max(2 * (mtu + 14), Math.ceil(s.rateBps / 250));
    const parent = netem.length > 0 ? 'parent 1:1 handle 10:' : 'root handle 1:';
    lines.push(`qdisc add dev ${HOST_IF} ${parent} tbf rate ${tcRate(s.rateBps)} burst ${burst} latency 100ms`);
  }
  return lines;
}

/**
 * Checks a parsed state file (written by us, but it sits in /run where anything could change it).
 * @throws SmigError SMIG_ERR_CONFIG naming the file.
 */
export function validateState(value: unknown, file: string): LabState {
  const bad = (why: string): never => {
    throw smigError('SMIG_ERR_CONFIG', `${file}: not a smig lab state (${why})`);
  };
  if (typeof value !== 'object' || value === null) return bad('not an object');
  const v = value as Partial<LabState>;
  if (v.version !== 1) return bad(`version ${String(v.version)}`);
  if (typeof v.name !== 'string' || !/^[a-z][a-z0-9]{0,9}$/.test(v.name)) return bad('name');
  const prefix = labPrefix(v.name);
  if (typeof v.subnet !== 'string' || typeof v.prefixLength !== 'number' || typeof v.createdAt !== 'string')
    return bad('subnet');
  if (v.bridgeNs !== `${prefix}br`) return bad('bridge namespace');
  if (!Array.isArray(v.hosts) || v.hosts.length === 0 || v.hosts.length > MAX_HOSTS) return bad('hosts');
  v.hosts.forEach((h: Partial<LabHostState>, i) => {
    if (
      h.name !== `h${i + 1}` ||
      h.ns !== `${prefix}h${i + 1}` ||
      h.bridgePort !== `vh${i + 1}` ||
      typeof h.address !== 'string' ||
      ipv4ToNumber(h.address) === undefined ||
      (h.address6 !== undefined && (typeof h.address6 !== 'string' || isIP(h.address6) !== 6))
    ) {
      bad(`host ${i + 1}`);
    }
  });
  if (typeof v.shaping !== 'object' || v.shaping === null) return bad('shaping');
  if (v.offloads !== 'ethtool' && v.offloads !== 'ip') return bad('offloads');
  if (v.mtu !== undefined && !(Number.isInteger(v.mtu) && v.mtu >= MIN_MTU && v.mtu <= MAX_MTU)) return bad('mtu');
  if (v.tcpTimestamps !== undefined && v.tcpTimestamps !== false) return bad('tcpTimestamps');
  if (v.ipv6 !== undefined && v.ipv6 !== true) return bad('ipv6');
  return v as LabState;
}
