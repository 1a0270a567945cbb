import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalIp, loadInventory, parseInventory } from '../../src/control/inventory.js';
import { encodePublicKey, generateIdentity, samePublicIdentity } from '../../src/crypto/identity.js';

const dir = mkdtempSync(join(tmpdir(), 'smig-inv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('canonicalIp', () => {
  it('writes every form of an address the same way (RFC 5952 for IPv6, mapped IPv4 as IPv4)', () => {
    expect(canonicalIp('203.0.113.5')).toBe('203.0.113.5');
    expect(canonicalIp(' 10.0.0.1 ')).toBe('10.0.0.1');
    expect(canonicalIp('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(canonicalIp('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(canonicalIp('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(canonicalIp('::FFFF:0a00:0001')).toBe('10.0.0.1');
    expect(canonicalIp('10.0.0.256')).toBeNull();
    expect(canonicalIp('h0.lab')).toBeNull();
    expect(canonicalIp('')).toBeNull();
  });
});

describe('parseInventory', () => {
  it("reads the issue's JSON form, with indexes by name and IDS address", () => {
    const inv = parseInventory(
      '{ "hosts": [ { "name": "h0", "address": "10.9.0.2:7000", "ids": ["203.0.113.5"], "roles": ["source", "relay", "destination"] } ] }',
      'inv.json',
    );
    expect(inv.hosts).toHaveLength(1);
    const h = inv.hosts[0]!;
    expect(h).toMatchObject({
      name: 'h0',
      address: { host: '10.9.0.2', port: 7000 },
      addressText: '10.9.0.2:7000',
      ids: ['203.0.113.5'],
      source: null,
    });
    expect([...h.roles]).toEqual(['source', 'relay', 'destination']);
    expect(inv.byName.get('h0')).toBe(h);
    expect(inv.byIp.get('203.0.113.5')).toBe(h);
  });

  it('reads YAML, defaults roles to all three, canonicalizes IDS addresses, keeps a default source', () => {
    const inv = parseInventory(
      [
        'hosts:',
        '  - name: h0',
        '    address: "[2001:db8::2]:7000"',
        '    ids: [2001:DB8:0:0:0:0:0:2, 10.0.0.2]',
        '    source: vm',
        '  - name: relay-1.lab',
        '    address: relay-1.lab:7000',
        '    roles: [relay]',
      ].join('\n'),
      'inv.yaml',
    );
    expect(inv.hosts.map((h) => h.addressText)).toEqual(['[2001:db8::2]:7000', 'relay-1.lab:7000']);
    expect(inv.hosts[0]!.ids).toEqual(['2001:db8::2', '10.0.0.2']);
    expect(inv.hosts[0]!.source).toBe('vm');
    expect([...inv.hosts[0]!.roles]).toEqual(['source', 'relay', 'destination']);
    expect([...inv.hosts[1]!.roles]).toEqual(['relay']);
    expect(inv.hosts[1]!.ids).toEqual([]);
    expect(inv.byIp.get('2001:db8::2')!.name).toBe('h0');
  });

  const host = (extra: string): string => `{"hosts":[{"name":"h0","address":"10.0.0.1:7000"},${extra}]}`;
  it.each([
    ['{', /^inventory x: line 1, column 2: /],
    ['[]', /^inventory x: expected an object with a "hosts" list$/],
    ['{"hosts":[],"x":1}', /^inventory x: unknown field 'x' \(expected hosts\)$/],
    ['{"hosts":[]}', /^inventory x: hosts: expected a non-empty list of hosts$/],
    ['{"hosts":[1]}', /^inventory x: hosts\[0\]: expected an object with name, address, ids, roles$/],
    [
      host('{"name":"h1","address":"10.0.0.2:7000","adress":"x"}'),
      /^inventory x: hosts\[1\] \(h1\): adress: unknown field \(expected name, address, ids, roles, source, key\)$/,
    ],
    [host('{"name":"-h","address":"10.0.0.2:7000"}'), /^inventory x: hosts\[1\]: name: "-h" is not a name/],
    [host('{"name":"h0","address":"10.0.0.2:7000"}'), /^inventory x: hosts\[1\] \(h0\): name: 'h0' is used twice$/],
    [
      host('{"name":"h1","address":"10.0.0.2"}'),
      /^inventory x: hosts\[1\] \(h1\): address: '10.0.0.2' is not HOST:PORT \(port missing;/,
    ],
    [
      host('{"name":"h1","address":"10.0.0.2:0"}'),
      /^inventory x: hosts\[1\] \(h1\): address: '10.0.0.2:0': port 0 is not an address others can reach$/,
    ],
    [
      host('{"name":"h1","address":"10.0.0.1:7000"}'),
      /^inventory x: hosts\[1\] \(h1\): address: 10.0.0.1:7000 is also the address of h0$/,
    ],
    [
      host('{"name":"h1","address":"10.0.0.2:7000","ids":"10.0.0.2"}'),
      /^inventory x: hosts\[1\] \(h1\): ids: expected a list of IP addresses, got "10.0.0.2"$/,
    ],
    [
      host('{"name":"h1","address":"10.0.0.2:7000","ids":["10.0.0.300"]}'),
      /^inventory x: hosts\[1\] \(h1\): ids\[0\]: "10.0.0.300" is not an IP address$/,
    ],
    [
      '{"hosts":[{"name":"h0","address":"10.0.0.1:7000","ids":["::ffff:10.0.0.9"]},{"name":"h1","address":"10.0.0.2:7000","ids":["10.0.0.9"]}]}',
      /^inventory x: hosts\[1\] \(h1\): ids\[0\]: 10.0.0.9 is also an IDS address of h0$/,
    ],
    [
      host('{"name":"h1","address":"10.0.0.2:7000","roles":["relay","leader"]}'),
      /^inventory x: hosts\[1\] \(h1\): roles\[1\]: "leader" is not a role \(source, relay, destination\)$/,
    ],
    [
      host('{"name":"h1","address":"10.0.0.2:7000","roles":[]}'),
      /^inventory x: hosts\[1\] \(h1\): roles: expected a non-empty list/,
    ],
    [
      host('{"name":"h1","address":"10.0.0.2:7000","roles":["relay"],"source":"vm"}'),
      /^inventory x: hosts\[1\] \(h1\): source: given, but the host's roles do not include source$/,
    ],
    [
      '{"hosts":[{"name":"h0","name":"h1","address":"10.0.0.1:7000"}]}',
      /^inventory x: line 1, column \d+: Map keys must be unique/,
    ],
  ])('refuses %s with one line naming the field and host', (text, re) => {
    let err: Error | undefined;
    try {
      parseInventory(text, 'x');
    } catch (e) {
      err = e as Error;
    }
    expect(err).toMatchObject({ code: 'SMIG_ERR_CONFIG' });
    expect(err!.message).toMatch(re);
    expect(err!.message).not.toContain('\n');
  });

  it('loads files, and names a missing or binary file', async () => {
    const ok = join(dir, 'ok.yaml');
    writeFileSync(ok, 'hosts:\n  - {name: h0, address: "127.0.0.1:7001"}\n');
    expect((await loadInventory(ok)).hosts[0]!.name).toBe('h0');
    await expect(loadInventory(join(dir, 'missing.yaml'))).rejects.toMatchObject({
      code: 'SMIG_ERR_FILE',
      message: `inventory ${join(dir, 'missing.yaml')}: no such file`,
    });
    const bin = join(dir, 'bin.yaml');
    writeFileSync(bin, Buffer.from([0xff, 0xfe, 0x00]));
    await expect(loadInventory(bin)).rejects.toMatchObject({
      code: 'SMIG_ERR_CONFIG',
      message: `inventory ${bin}: not UTF-8 text`,
    });
  });

  it('reads host keys inline or from a .pub file next to the inventory; refuses a bad, missing or shared key', async () => {
    const a = generateIdentity();
    const b = generateIdentity('h1 comment');
    mkdirSync(join(dir, 'keys'), { recursive: true });
    writeFileSync(join(dir, 'keys', 'h1.id.pub'), encodePublicKey(b.public));
    const file = join(dir, 'keyed.yaml');
    writeFileSync(
      file,
      `hosts:\n  - {name: h0, address: "127.0.0.1:7001", key: "${encodePublicKey(a.public).trim()}"}\n  - {name: h1, address: "127.0.0.1:7002", key: keys/h1.id.pub}\n  - {name: h2, address: "127.0.0.1:7003"}\n`,
    );
    const inv = await loadInventory(file);
    expect(samePublicIdentity(inv.byName.get('h0')!.key!, a.public)).toBe(true);
    expect(samePublicIdentity(inv.byName.get('h1')!.key!, b.public)).toBe(true);
    expect(inv.byName.get('h2')!.key).toBeNull();
    const bad = (key: string): string =>
      `{"hosts":[{"name":"h0","address":"10.0.0.1:7000","key":${JSON.stringify(key)}}]}`;
    expect(() => parseInventory(bad('smig-pub-v1 00'), 'x')).toThrow(
      /^inventory x: hosts\[0\] \(h0\): key: malformed public key/,
    );
    expect(() => parseInventory(bad('missing.pub'), 'x', dir)).toThrow(
      `inventory x: hosts[0] (h0): key: ${join(dir, 'missing.pub')}: no such file`,
    );
    const pub = encodePublicKey(a.public).trim();
    expect(() =>
      parseInventory(
        `{"hosts":[{"name":"h0","address":"10.0.0.1:7000","key":"${pub}"},{"name":"h1","address":"10.0.0.2:7000","key":"${pub}"}]}`,
        'x',
      ),
    ).toThrow(
      /^inventory x: hosts\[1\] \(h1\): key: SHA256:\S+ is also the key of h0 \(every host needs its own identity\)$/,
    );
  });
});
