/** The `smig/capture` entry: streaming pcap/pcapng reader, pcap writer, packet decoding and filters. */

export type { Decoded, NetworkKind } from './decode.js';
export { createDecoded, decodePacket, decodePacketAt, formatAddress, parseAddress } from './decode.js';
export type { PacketPredicate } from './filter.js';
export { compileFilter } from './filter.js';
export { LiveCapture, listDevices } from './live.js';
export type { ParserOptions, ReadOptions } from './reader.js';
export { CaptureParser, readCapture } from './reader.js';
export type { CaptureFormat, CaptureInfo, CaptureInterface, CaptureWarning, PacketRecord } from './types.js';
export type { PcapWriterOptions } from './writer.js';
export { PcapWriter } from './writer.js';
