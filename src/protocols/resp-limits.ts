// The bounds a RESP reply reader enforces (`RespLimits`) and the value it returns, never throws,
// for a stream that breaks them or is malformed (`RespProtocolError`). Shared by the scanner
// (resp-scanner.ts), the value parser (resp-value.ts) and the rewriter (resp-rewrite.ts).

export interface RespLimits {
  /** Longest header or one-line value (simple string, error, number, length line), CRLF excluded. */
  readonly maxLineLength: number;
  /** Deepest nesting of aggregates (attributes and streamed strings count as a level). */
  readonly maxDepth: number;
  /** Most elements one aggregate may announce (pairs count twice for maps and attributes). */
  readonly maxAggregateLength: number;
  /** Longest bulk string, blob error, verbatim string or streamed-string chunk. Not buffered. */
  readonly maxBulkLength: number;
}

export const DEFAULT_RESP_LIMITS: Readonly<RespLimits> = Object.freeze({
  maxLineLength: 64 * 1024,
  maxDepth: 64,
  maxAggregateLength: 2 ** 32,
  maxBulkLength: 2 ** 32,
});

export type RespErrorCode =
  | 'bad_type'
  | 'bad_length'
  | 'bad_value'
  | 'missing_crlf'
  | 'line_too_long'
  | 'too_deep'
  | 'aggregate_too_long'
  | 'bulk_too_long'
  | 'unexpected_end';

/** A malformed reply stream. `offset` counts bytes from the start of the stream. */
export interface RespProtocolError {
  readonly kind: 'resp_protocol_error';
  readonly code: RespErrorCode;
  readonly message: string;
  readonly offset: number;
}

export function isRespProtocolError(v: unknown): v is RespProtocolError {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'resp_protocol_error';
}
