/**
 * The smig wire protocol (docs/DESIGN.md §3): frames, messages, their codec, the incremental decoder and the
 * per-link state machines. Pure code: no sockets, no clock. `src/net` and `src/roles` build on it.
 */

export type { FrameDecoderOptions } from './decoder.js';
export { FrameDecoder } from './decoder.js';
export type { FrameBody } from './frames.js';
export {
  checkedLength,
  concatParts,
  DEFAULT_MAX_FRAME_LENGTH,
  encodeFrame,
  encodeFrameHeader,
  FRAME_HEADER_LENGTH,
  FrameType,
  frameTypeName,
  isFrameType,
} from './frames.js';
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
  OutcomeSession,
  PadMessage,
  PingMessage,
  PollSession,
  PongMessage,
  ProgressMessage,
  SessionLayout,
  SessionMessage,
  SessionRole,
  StatusMessage,
} from './messages.js';
export {
  decodeMessage,
  encodeMessage,
  encodeMessageBytes,
  errorMessageFor,
  MAX_DATA_SEGMENT_BYTES,
  MAX_JSON_BYTES,
  MAX_PLAN_BYTES,
  MAX_RELAYS,
  MAX_SHARE_BYTES,
  MAX_STRING_BYTES,
  MAX_TEXT_BYTES,
  PROTOCOL_VERSION,
  ProtocolState,
  peerError,
  SESSION_ID_LENGTH,
  SHA256_LENGTH,
  sameSessionId,
  sessionIdHex,
  toWireText,
  WIRE_ERROR_CODES,
  wireErrorName,
} from './messages.js';
