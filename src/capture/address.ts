/**
 * Text forms of IP addresses: {@link formatAddress} prints the 4- or 16-byte addresses that packet decoding
 * exposes, {@link parseAddress} reads the addresses users write in filters and options.
 */

/**
 * Text form of an address: dotted quad for 4 bytes, RFC 5952 for 16 bytes (lower case, the longest
 * run of two or more zero groups as `::`, IPv4-mapped as `::ffff:a.b.c.d` per §5), colon-separated
 * hex bytes for other lengths (a 6-byte MAC prints as `00:1a:2b:3c:4d:5e`), '' for none.
 */
export function formatAddress(a: Uint8Array): string {
  if (a.length === 4) return `${a[0]}.${a[1]}.${a[2]}.${a[3]}`;
  if (a.length !== 16) return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join(':');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((a[i]! << 8) | a[i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${a[12]}.${a[13]}.${a[14]}.${a[15]}`;
  }
  // RFC 5952 §4.2.2/§4.2.3: the longest run (first on a tie) of at least two zero groups
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/**
 * Parse an IPv4 dotted quad (four decimal parts 0–255, no leading zeros) or an IPv6 address in any
 * RFC 4291 §2.2 text form (with `::`, with a dotted IPv4 tail). No zone ids, no prefix lengths.
 * @returns 4 or 16 bytes, or `undefined` if `text` is not an address.
 */
export function parseAddress(text: string): Uint8Array | undefined {
  return text.includes(':') ? parseIPv6(text) : parseIPv4(text);
}

const DEC_OCTET = /^(?:0|[1-9]\d{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!DEC_OCTET.test(part) || Number(part) > 255) return undefined;
    out[i] = Number(part);
  }
  return out;
}

function parseIPv6(text: string): Uint8Array | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (i === parts.length - 1 && part.includes('.')) {
        const v4 = parseIPv4(part);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (HEX_GROUP.test(part)) {
        out.push(parseInt(part, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (!head || !tail) return undefined;
  // A dotted tail is only allowed at the very end of the address
  if (halves.length === 2 && halves[0]!.includes('.')) return undefined;
  const explicit = head.length + tail.length;
  if (halves.length === 2 ? explicit > 7 : explicit !== 8) return undefined;
  const groups = [...head, ...new Array<number>(8 - explicit).fill(0), ...tail];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}
