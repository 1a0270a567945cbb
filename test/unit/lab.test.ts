/** The pure half of the lab (src/lab/plan.ts): names, addresses, the ip/tc batches, the state record. */
import { describe, expect, it } from 'vitest';
import { requireRoot } from '../../src/lab/lab.js';
import {
  checkLabName,
  hostAddresses,
  labPrefix,
  PINGPONG_OFF,
  parseSubnet,
  planLab,
  planUp,
  shapingCommands,
  validateState,
} from '../../src/lab/plan.js';
import { PINGPONG_OFF_THRESH } from '../../src/roles/echo.js';

const at = new Date('2026-01-02T03:04:05.000Z');

describe('lab names and subnets', () => {
  it('accepts short lower-case names only (they become namespace names; no dash)', () => {
    expect(checkLabName('lab1')).toBe('lab1');
    expect(labPrefix('b')).toBe('smig-b-');
    for (const bad of ['', '1lab', 'Lab', 'a-b', 'abcdefghijk', 'a b', 'a/b', '../x']) {
      expect(() => checkLabName(bad), bad).toThrow(expect.objectContaining({ code: 'SMIG_ERR_USAGE' }));
    }
  });

  it('parses IPv4 networks and rejects host bits, bad prefixes and garbage', () => {
    expect(parseSubnet('10.77.0.0/24')).toEqual({ network: 0x0a4d0000, prefixLength: 24 });
    expect(parseSubnet('192.168.128.0/17')).toEqual({ network: 0xc0a88000, prefixLength: 17 });
    expect(() => parseSubnet('10.77.0.5/24')).toThrow('host bits are set (network address is 10.77.0.0/24)');
    for (const bad of [
      '10.77.0.0',
      '10.77.0.0/31',
      '10.77.0.0/7',
      '10.77.0.256/24',
      '10.77.0/24',
      'x/24',
      '10.77.0.0/24/1',
    ]) {
      expect(() => parseSubnet(bad), bad).toThrow(expect.objectContaining({ code: 'SMIG_ERR_BAD_ADDRESS' }));
    }
  });

  it('numbers hosts from .1 and stops where the subnet ends (network and broadcast excluded)', () => {
    expect(hostAddresses('10.77.0.0/24', 3)).toEqual(['10.77.0.1', '10.77.0.2', '10.77.0.3']);
    expect(hostAddresses('172.16.0.0/23', 256).slice(253, 256)).toEqual(['172.16.0.254', '172.16.0.255', '172.16.1.0']);
    expect(hostAddresses('10.0.0.8/30', 2)).toEqual(['10.0.0.9', '10.0.0.10']);
    expect(() => hostAddresses('10.0.0.8/30', 3)).toThrow('--hosts 3: 10.0.0.8/30 has room for 2');
  });
});

describe('planLab', () => {
  it('records names, namespaces, addresses and shaping', () => {
    const s = planLab(
      { name: 'ab', hosts: 2, subnet: '10.9.8.0/24', delayNs: 5_000_000n, lossPct: 0.5, rateBps: 1_250_000 },
      'ip',
      at,
    );
    expect(s).toEqual({
      version: 1,
      name: 'ab',
      subnet: '10.9.8.0/24',
      prefixLength: 24,
      bridgeNs: 'smig-ab-br',
      hosts: [
        { name: 'h1', ns: 'smig-ab-h1', address: '10.9.8.1', bridgePort: 'vh1' },
        { name: 'h2', ns: 'smig-ab-h2', address: '10.9.8.2', bridgePort: 'vh2' },
      ],
      shaping: { delayNs: '5000000', lossPct: 0.5, rateBps: 1_250_000 },
      offloads: 'ip',
      createdAt: '2026-01-02T03:04:05.000Z',
    });
    expect(planLab({ name: 'x', hosts: 1 }, 'ip', at).subnet).toBe('10.77.0.0/24');
  });

  it('rejects bad counts and shaping values', () => {
    expect(() => planLab({ name: 'x', hosts: 0 })).toThrow('--hosts: expected 1..250, got 0');
    expect(() => planLab({ name: 'x', hosts: 251, subnet: '10.0.0.0/16' })).toThrow(
      '--hosts: expected 1..250, got 251',
    );
    expect(() => planLab({ name: 'x', hosts: 2.5 })).toThrow(expect.objectContaining({ code: 'SMIG_ERR_USAGE' }));
    expect(() => planLab({ name: 'x', hosts: 2, lossPct: 0 })).toThrow('--loss');
    expect(() => planLab({ name: 'x', hosts: 2, lossPct: 101 })).toThrow('--loss');
    expect(() => planLab({ name: 'x', hosts: 2, delayNs: 0n })).toThrow('--delay');
    expect(() => planLab({ name: 'x', hosts: 2, rateBps: 10 })).toThrow('--rate');
    expect(() => planLab({ name: 'x', hosts: 7, subnet: '10.0.0.0/29' })).toThrow('has room for 6');
  });
});

describe('planUp', () => {
  const state = planLab({ name: 'ab', hosts: 2 }, 'ip', at);
  const steps = planUp(state);

  it('creates only lab namespaces, and every other ip call runs inside one of them', () => {
    expect(steps[0]).toEqual({
      what: 'create namespaces',
      argv: ['ip', '-batch', '-'],
      stdin: 'netns add smig-ab-br\nnetns add smig-ab-h1\nnetns add smig-ab-h2\n',
    });
    for (const s of [...steps.slice(1), ...planUp({ ...state, offloads: 'ethtool' }).slice(1)]) {
      const ns =
        s.argv[1] === '-n' ? s.argv[2] : s.argv.slice(0, 3).join(' ') === 'ip netns exec' ? s.argv[3] : undefined;
      expect(ns, s.argv.join(' ')).toMatch(/^smig-ab-(br|h\d+)$/);
    }
  });

  it('with ethtool: features off on the switch ports, software GSO on the hosts, from inside each namespace (the path quoted for sh)', () => {
    const e = planUp({ ...state, offloads: 'ethtool' }, "/opt/it's/ethtool");
    expect(e.map((s) => s.what)).toEqual([
      'create namespaces',
      'build the bridge in smig-ab-br',
      'turn offloads off in smig-ab-br',
      'set up h1 in smig-ab-h1',
      'segment in software in smig-ab-h1',
      "keep smig-ab-h1's TCP out of interactive mode",
      'set up h2 in smig-ab-h2',
      'segment in software in smig-ab-h2',
      "keep smig-ab-h2's TCP out of interactive mode",
    ]);
    expect(e[2]!.argv).toEqual([
      'ip',
      'netns',
      'exec',
      'smig-ab-br',
      '/bin/sh',
      '-c',
      "'/opt/it'\\''s/ethtool' -K vh1 tx off tso off gso off gro off >/dev/null && '/opt/it'\\''s/ethtool' -K vh2 tx off tso off gso off gro off >/dev/null",
    ]);
    expect(e[7]!.argv.slice(3)).toEqual([
      'smig-ab-h2',
      '/bin/sh',
      '-c',
      "'/opt/it'\\''s/ethtool' -K eth0 tx on sg on tso off gso on gro off >/dev/null",
    ]);
    // the host's device keeps its GSO segment limit (the ethtool step cuts); without ethtool it is 1 (below)
    expect(e[6]!.stdin).toContain('link set eth0 gro_max_size 0\n');
    expect(e[6]!.stdin).not.toContain('gso_max_segs');
  });

  it('with ethtool on a shaped lab: offloads off on the hosts too (netem would drop a GSO skb whole)', () => {
    const shaped = planLab({ name: 'ab', hosts: 1, lossPct: 1 }, 'ethtool');
    const e = planUp(shaped);
    expect(e.map((s) => s.what)).toContain('turn offloads off in smig-ab-h1');
    expect(e.map((s) => s.what)).not.toContain('segment in software in smig-ab-h1');
    expect(e.find((s) => s.what === 'set up h1 in smig-ab-h1')!.stdin).toContain('gso_max_segs 1');
  });

  it('builds the bridge and the veths from inside the bridge namespace, peers straight into the hosts', () => {
    expect(steps[1]!.argv).toEqual(['ip', '-n', 'smig-ab-br', '-batch', '-']);
    expect(steps[1]!.stdin!.split('\n')).toEqual([
      'link set lo up',
      'link add br0 type bridge stp_state 0 forward_delay 0',
      'link set br0 addrgenmode none',
      'link add vh1 type veth peer name eth0 netns smig-ab-h1',
      'link set vh1 addrgenmode none',
      'link set vh1 mtu 1500',
      'link set vh1 gso_max_segs 1 gro_max_size 0',
      'link set vh1 master br0',
      'link set vh1 up',
      'link add vh2 type veth peer name eth0 netns smig-ab-h2',
      'link set vh2 addrgenmode none',
      'link set vh2 mtu 1500',
      'link set vh2 gso_max_segs 1 gro_max_size 0',
      'link set vh2 master br0',
      'link set vh2 up',
      'link set br0 up',
      '',
    ]);
  });

  it('sets each host up: lo, no IPv6 link-local, offloads off, address, then up; no shaping unless asked', () => {
    expect(steps).toHaveLength(6);
    // and TCP out of interactive mode where the kernel has the sysctl (one echo PAD per ACK, roles/echo.ts)
    expect(steps[5]).toEqual({
      what: "keep smig-ab-h2's TCP out of interactive mode",
      argv: ['ip', 'netns', 'exec', 'smig-ab-h2', '/bin/sh', '-c', PINGPONG_OFF],
    });
    expect(PINGPONG_OFF).toContain(`echo ${PINGPONG_OFF_THRESH} > "$f"`);
    expect(steps[4]).toEqual({
      what: 'set up h2 in smig-ab-h2',
      argv: ['ip', '-n', 'smig-ab-h2', '-batch', '-'],
      stdin:
        'link set lo up\nlink set eth0 addrgenmode none\nlink set eth0 mtu 1500\nlink set eth0 gso_max_segs 1 gro_max_size 0\naddr add 10.77.0.2/24 dev eth0\nlink set eth0 up\n',
    });
  });

  it("sets a capture's link when asked: the MTU after addrgenmode (under 1280 a device has no IPv6), TCP timestamps off per host", () => {
    const st = planLab({ name: 'ab', hosts: 2, mtu: 1246, tcpTimestamps: false }, 'ip', at);
    expect(st).toMatchObject({ mtu: 1246, tcpTimestamps: false });
    expect(validateState(JSON.parse(JSON.stringify(st)), 'f')).toEqual(st);
    const m = planUp(st);
    expect(m.map((s) => s.what)).toEqual([
      'create namespaces',
      'build the bridge in smig-ab-br',
      'set up h1 in smig-ab-h1',
      'turn TCP timestamps off in smig-ab-h1',
      "keep smig-ab-h1's TCP out of interactive mode",
      'set up h2 in smig-ab-h2',
      'turn TCP timestamps off in smig-ab-h2',
      "keep smig-ab-h2's TCP out of interactive mode",
    ]);
    const br = m[1]!.stdin!.split('\n');
    expect(br.indexOf('link set vh1 mtu 1246')).toBe(br.indexOf('link set vh1 addrgenmode none') + 1);
    expect(m[5]!.stdin).toContain('link set eth0 addrgenmode none\nlink set eth0 mtu 1246\n');
    expect(m[6]!.argv).toEqual([
      'ip',
      'netns',
      'exec',
      'smig-ab-h2',
      '/bin/sh',
      '-c',
      'echo 0 > /proc/sys/net/ipv4/tcp_timestamps',
    ]);
    // the defaults leave no trace in the state, and a tbf burst follows the MTU
    expect(planLab({ name: 'ab', hosts: 1, mtu: 1500, tcpTimestamps: true }, 'ip', at)).not.toHaveProperty('mtu');
    expect(shapingCommands({ rateBps: 125_000 }, 1000)[0]).toContain('burst 2028 ');
    expect(planLab({ name: 'ab', hosts: 1, mtu: 18_006 }, 'ip', at)).toMatchObject({ mtu: 18_006 });
    for (const mtu of [575, 65_522, 1300.5])
      expect(() => planLab({ name: 'ab', hosts: 1, mtu }, 'ip', at)).toThrow(/--mtu/);
    expect(() => validateState({ ...st, mtu: 70_000 }, 'f')).toThrow(/mtu/);
  });

  it('with IPv6: fd77::N beside each IPv4 address (no DAD), a quiet IPv6 per host, no snooping on the bridge', () => {
    const st = planLab({ name: 'ab', hosts: 17, ipv6: true }, 'ip', at);
    expect(st.ipv6).toBe(true);
    expect(st.hosts.map((h) => h.address6).slice(0, 2)).toEqual(['fd77::1', 'fd77::2']);
    expect(st.hosts[15]!.address6).toBe('fd77::10'); // hex, as IPv6 writes it
    expect(validateState(JSON.parse(JSON.stringify(st)), 'f')).toEqual(st);
    const m = planUp(planLab({ name: 'ab', hosts: 2, ipv6: true }, 'ip', at));
    expect(m.map((s) => s.what)).toEqual([
      'create namespaces',
      'build the bridge in smig-ab-br',
      'set up h1 in smig-ab-h1',
      'quiet IPv6 in smig-ab-h1',
      "keep smig-ab-h1's TCP out of interactive mode",
      'set up h2 in smig-ab-h2',
      'quiet IPv6 in smig-ab-h2',
      "keep smig-ab-h2's TCP out of interactive mode",
    ]);
    expect(m[1]!.stdin).toContain('link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0\n');
    expect(m[5]!.stdin).toContain(
      'addr add 10.77.0.2/24 dev eth0\naddr add fd77::2/64 dev eth0 nodad\nlink set eth0 up\n',
    );
    expect(m[6]!.argv.slice(-1)[0]).toBe(
      'd=/proc/sys/net/ipv6/conf/eth0; echo 0 > $d/router_solicitations && echo 0 > $d/accept_ra',
    );
    // IPv4 labs are as before: no IPv6 address, snooping left alone
    expect(planLab({ name: 'ab', hosts: 1 }, 'ip', at).hosts[0]).not.toHaveProperty('address6');
    expect(planUp(planLab({ name: 'ab', hosts: 1 }, 'ip', at))[1]!.stdin).not.toContain('mcast_snooping');
    // IPv6 takes no link MTU under 1280; a state with a bad IPv6 address is no lab state
    expect(() => planLab({ name: 'ab', hosts: 1, ipv6: true, mtu: 1246 }, 'ip', at)).toThrow(
      '--mtu 1246: IPv6 needs a link MTU of at least 1280',
    );
    const bad = { ...st, hosts: st.hosts.map((h, i) => (i === 0 ? { ...h, address6: '10.0.0.1' } : h)) };
    expect(() => validateState(bad, 'f')).toThrow('f: not a smig lab state (host 1)');
    expect(() => validateState({ ...st, ipv6: 'yes' }, 'f')).toThrow('(ipv6)');
  });

  it("shapes every host's egress when asked", () => {
    const shaped = planUp(planLab({ name: 'ab', hosts: 2, rateBps: 1_250_000 }, 'ip', at));
    expect(shaped.map((s) => s.what)).toEqual([
      'create namespaces',
      'build the bridge in smig-ab-br',
      'set up h1 in smig-ab-h1',
      "keep smig-ab-h1's TCP out of interactive mode",
      "shape h1's link",
      'set up h2 in smig-ab-h2',
      "keep smig-ab-h2's TCP out of interactive mode",
      "shape h2's link",
    ]);
    expect(shaped[7]).toEqual({
      what: "shape h2's link",
      argv: ['tc', '-n', 'smig-ab-h2', '-batch', '-'],
      stdin: 'qdisc add dev eth0 root handle 1: tbf rate 10000000bit burst 5000 latency 100ms\n',
    });
  });
});

describe('shapingCommands', () => {
  it("netem for delay and loss, tbf for rate (as netem's child when both)", () => {
    expect(shapingCommands({})).toEqual([]);
    expect(shapingCommands({ delayNs: '20000000' })).toEqual(['qdisc add dev eth0 root handle 1: netem delay 20000us']);
    expect(shapingCommands({ delayNs: '1500', lossPct: 0.5 })).toEqual([
      'qdisc add dev eth0 root handle 1: netem delay 1us loss 0.5%',
    ]);
    expect(shapingCommands({ lossPct: 2, rateBps: 125_000 })).toEqual([
      'qdisc add dev eth0 root handle 1: netem loss 2%',
      'qdisc add dev eth0 parent 1:1 handle 10: tbf rate 1000000bit burst 3028 latency 100ms',
    ]);
    // burst: one jiffy at HZ=250 of a fast rate (1 Gbit/s = 125 MB/s → 500 kB)
    expect(shapingCommands({ rateBps: 125e6 })).toEqual([
      'qdisc add dev eth0 root handle 1: tbf rate 1000000000bit burst 500000 latency 100ms',
    ]);
  });
});

describe('validateState', () => {
  const good = JSON.parse(JSON.stringify(planLab({ name: 'ab', hosts: 3 }, 'ip', at))) as Record<string, unknown>;

  it('accepts what planLab makes', () => {
    expect(validateState(good, 'f.json')).toEqual(good);
  });

  it('rejects anything else with one line naming the file', () => {
    const cases: [unknown, string][] = [
      [null, 'not an object'],
      [{ ...good, version: 2 }, 'version 2'],
      [{ ...good, name: 'A-b' }, 'name'],
      [{ ...good, bridgeNs: 'eth0' }, 'bridge namespace'],
      [{ ...good, hosts: [] }, 'hosts'],
      [{ ...good, hosts: [{ name: 'h1', ns: 'other-ns', address: '10.77.0.1', bridgePort: 'vh1' }] }, 'host 1'],
      [{ ...good, hosts: [{ name: 'h1', ns: 'smig-ab-h1', address: 'x', bridgePort: 'vh1' }] }, 'host 1'],
      [{ ...good, shaping: null }, 'shaping'],
      [{ ...good, offloads: 'none' }, 'offloads'],
    ];
    for (const [v, why] of cases) {
      expect(() => validateState(v, '/run/smig/labs/ab.json')).toThrow(
        `/run/smig/labs/ab.json: not a smig lab state (${why})`,
      );
    }
  });
});

describe('requireRoot', () => {
  it('refuses any uid but 0 with exit status 2', () => {
    expect(() => requireRoot('smig lab up', 0)).not.toThrow();
    expect(() => requireRoot('smig lab up', 1000)).toThrow(
      expect.objectContaining({
        code: 'SMIG_ERR_PERMISSION',
        exitCode: 2,
        message: 'smig lab up needs root (it creates network namespaces); run it with sudo',
      }),
    );
  });
});
