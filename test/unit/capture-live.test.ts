/** The pure parts of live capture: libpcap's record header as the pcap binding copies it, and link types. */
import { endianness } from 'node:os';
import { describe, expect, it } from 'vitest';
import { pcapLinktype, readRecordHeader } from '../../src/capture/live.js';

describe('readRecordHeader', () => {
  it('reads tv_sec, tv_usec, caplen and len in host order into exact nanoseconds', () => {
    const h = Buffer.alloc(16);
    const w = (v: number, o: number): number => (endianness() === 'LE' ? h.writeUInt32LE(v, o) : h.writeUInt32BE(v, o));
    w(4_000_000_000, 0); // past 2038: tv_sec is read unsigned
    w(999_999, 4);
    w(96, 8);
    w(65_549, 12);
    expect(readRecordHeader(h)).toEqual({ tsNs: 4_000_000_000_999_999_000n, caplen: 96, len: 65_549 });
  });
});

describe('pcapLinktype', () => {
  it("maps the binding's names and passes unknown DLTs through", () => {
    expect(pcapLinktype('LINKTYPE_ETHERNET')).toBe(1);
    expect(pcapLinktype('LINKTYPE_LINUX_SLL')).toBe(113);
    expect(pcapLinktype('LINKTYPE_RAW')).toBe(101);
    expect(pcapLinktype('Unknown linktype 276')).toBe(276);
    expect(() => pcapLinktype('what')).toThrow(/unknown link type 'what'/);
  });
});
