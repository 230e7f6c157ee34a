/**
 * pulso as a library: the frame decoder, the event counter, keyed hashing of addresses, the
 * digest format, the BPF filter, and capture through libpcap (live or from a file).
 *
 * @example
 * ```ts
 * import { CaptureSession, ConnectionCounter, buildDigest, clearSource, formatDigest } from "./mod.ts";
 *
 * const counter = new ConnectionCounter();
 * using session = await CaptureSession.openFile("capture.pcap", counter);
 * await session.run();
 * console.log(formatDigest(buildDigest(counter.summarize(), clearSource)));
 * ```
 *
 * @module
 */
export { formatAddress, parseAddress } from "./src/address.ts";
export { captureFilter } from "./src/bpf_filter.ts";
export {
  type CaptureLimits,
  CaptureSession,
  type CaptureSummary,
  type EndReason,
  FilterError,
  UnsupportedLinkTypeError,
} from "./src/capture.ts";
export { type Command, type CountOptions, HELP, parseCommandLine, UsageError } from "./src/cli.ts";
export { ConnectionCounter, type CounterEntry, EXACT_PAIRS } from "./src/counter.ts";
export {
  checkBounds,
  ConnectionSummary,
  DEFAULT_MAX_PORTS,
  DEFAULT_MAX_SOURCES,
  type SummaryBounds,
  type SummaryPort,
  type SummarySource,
} from "./src/summary.ts";
export { HyperLogLog } from "./src/hyperloglog.ts";
export { DEDUPE_CAPACITY, DEDUPE_SECONDS, RetransmissionFilter } from "./src/dedupe.ts";
export {
  Decoded,
  decodeFrame,
  decoderFor,
  type FrameDecoder,
  isSupportedLinkType,
  LinkType,
  Verdict,
} from "./src/decode.ts";
export {
  buildDigest,
  clearSource,
  type Digest,
  type DigestLine,
  type DigestPort,
  digestText,
  formatDigest,
  type SourceNamer,
} from "./src/digest.ts";
export { KeyedHasher, toHex } from "./src/keyed_hash.ts";
export {
  type CaptureStats,
  type Device,
  LibpcapLoadError,
  libraryVersion,
  linkTypeName,
  listDevices,
  NextResult,
  Pcap,
  PcapError,
} from "./ffi/libpcap.ts";
