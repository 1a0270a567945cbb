/**
 * The smig wire protocol (DESIGN §3): frames, messages, their codec, the incremental decoder and the
 * per-link state machines. Pure code: no sockets, no clock. `src/net` and `src/roles` build on it.
 */
export {
  DEFAULT_MAX_FRAME_LENGTH,
  FRAME_HEADER_LENGTH,
  FrameType,
  HELLO,
  checkedLength,
  concatParts,
  encodeFrame,
  encodeFrameHeader,
  encodeFrameTo,
  frameTypeName,
  isFrameType,
} from './frames.js';
export type { FrameBody } from './frames.js';
export { FrameDecoder, isProtocolError } from './decoder.js';
export type { FrameDecoderOptions } from './decoder.js';
export {
  MAX_DATA_BYTES,
  MAX_DATA_SEGMENT_BYTES,
  MAX_JSON_BYTES,
  MAX_RELAYS,
  MAX_SHARE_BYTES,
  MAX_STRING_BYTES,
  MAX_TEXT_BYTES,
  PROTOCOL_VERSION,
  ProtocolState,
  SESSION_ID_LENGTH,
  SHA256_LENGTH,
  WIRE_ERROR_CODES,
  decodeMessage,
  encodeMessage,
  encodeMessageBytes,
  errorMessageFor,
  peerError,
  sameSessionId,
  sessionIdHex,
  toWireText,
  wireErrorName,
} from './messages.js';
export type {
  DataMessage,
  DataRelaySession,
  DataSegmentMessage,
  DestinationSession,
  DoneMessage,
  EndMessage,
  ErrorMessage,
  InstructMessage,
  JsonObject,
  KeyMessage,
  KeyRelaySession,
  KeySegmentMessage,
  LeaderSession,
  LinkRole,
  Message,
  MessageOf,
  PadMessage,
  PingMessage,
  PongMessage,
  ProgressMessage,
  SessionLayout,
  SessionMessage,
  SessionRole,
  StatusMessage,
} from './messages.js';
