/**
 * The one error catalogue. Every error the server sends — HTTP bodies, SSE `error` events,
 * per-model failures — carries one of these stable codes. docs/api.md lists them.
 */
export const ERROR_CATALOGUE = {
  // request shape
  invalid_json: { status: 400, message: 'The request body is not valid JSON.' },
  unsupported_media_type: { status: 415, message: 'Send the body as application/json.' },
  body_too_large: { status: 413, message: 'The request body is larger than the server accepts.' },
  unknown_field: { status: 400, message: 'The request has a field the endpoint does not accept.' },
  invalid_field: { status: 400, message: 'A field has the wrong type or value.' },
  empty_prompt: { status: 400, message: 'The prompt is empty.' },
  too_many_models: { status: 400, message: 'Too many models in one request.' },
  input_too_long: { status: 400, message: 'The input is longer than the tier allows.' },
  invalid_last_event_id: { status: 400, message: 'Last-Event-ID is not a position this server issued.' },
  // model ids (aliases, bare ids)
  ambiguous_model: { status: 400, message: 'Several providers serve a model of that id; name it with its provider prefix.' },
  // input limits (hardening): every JSON body and WebSocket message is scanned before parsing
  too_deep: { status: 400, message: 'The JSON nests deeper than the server accepts.' },
  string_too_long: { status: 400, message: 'A JSON string is longer than the server accepts.' },
  too_many_elements: { status: 400, message: 'A JSON array or object has more items than the server accepts.' },
  // resources
  not_found: { status: 404, message: 'No such route.' },
  comparison_not_found: { status: 404, message: 'No such comparison.' },
  conversation_not_found: { status: 404, message: 'No such conversation.' },
  method_not_allowed: { status: 405, message: 'Method not allowed on this route.' },
  feature_flag_disabled: { status: 403, message: 'This feature is disabled by a feature flag.' },
  // realtime: publishing, channels, connections (HTTP bodies and WebSocket `error` frames)
  unauthorized: { status: 401, message: 'Missing or invalid credentials.' },
  invalid_token: { status: 401, message: 'The connection token is invalid or expired.' },
  publish_disabled: { status: 403, message: 'Publishing over HTTP is not configured (TRIBUTARY_PUBLISH_KEY).' },
  invalid_channel: { status: 400, message: 'Not a valid channel name.' },
  channel_forbidden: { status: 403, message: 'This connection may not subscribe to that channel.' },
  too_many_channels: { status: 400, message: 'Too many channels for one connection.' },
  event_too_large: { status: 413, message: 'The event is larger than the server accepts.' },
  idempotency_conflict: { status: 409, message: 'The idempotency key was used for a different publish.' },
  verify_running: { status: 409, message: 'A verify run is already in progress on this server; try again when it ends.' },
  invalid_position: { status: 400, message: 'Not a position this server issued.' },
  malformed_frame: { status: 400, message: 'The frame is not a JSON object of the protocol.' },
  unknown_type: { status: 400, message: 'Unknown message type.' },
  unsupported_version: { status: 400, message: 'Unsupported protocol version.' },
  handshake_required: { status: 400, message: 'Send the handshake first.' },
  already_subscribed: { status: 409, message: 'Already subscribed to that channel on this connection.' },
  not_subscribed: { status: 404, message: 'Not subscribed to that channel on this connection.' },
  slow_consumer: { status: 503, message: 'The client did not read fast enough; reconnect and resume.' },
  // durability and dependencies (issue 11)
  invalid_text: { status: 400, message: 'Text contains a NUL character or a lone UTF-16 surrogate, which cannot be stored.' },
  // ops: admin API, flags, metrics
  flag_not_found: { status: 404, message: 'No such feature flag.' },
  metrics_disabled: { status: 404, message: 'Metrics are turned off (ops.metricsEnabled).' },
  // identity: credentials, scopes, accounts, keys (docs/identity.md)
  authentication_required: { status: 401, message: 'Sign in or send an API key (Authorization: Bearer …).' },
  token_expired: { status: 401, message: 'The access token has expired; refresh it.' },
  token_revoked: { status: 401, message: 'The session was signed out or revoked.' },
  invalid_key: { status: 401, message: 'No such API key.' },
  key_revoked: { status: 401, message: 'The API key was revoked.' },
  refresh_reused: { status: 401, message: 'A refresh token was used twice; the whole session is revoked.' },
  invalid_credentials: { status: 401, message: 'Wrong email or password.' },
  insufficient_scope: { status: 403, message: 'The credential lacks the scope this route needs.' },
  forbidden: { status: 403, message: 'Only an admin may do this.' },
  email_taken: { status: 409, message: 'An account with this email exists.' },
  weak_password: { status: 400, message: 'The password is too short.' },
  key_not_found: { status: 404, message: 'No such API key.' },
  user_not_found: { status: 404, message: 'No such user.' },
  // batch jobs (jobs/, http/routes/jobs.ts)
  job_not_found: { status: 404, message: 'No such job.' },
  job_running: { status: 409, message: 'The job has not ended yet.' },
  nothing_to_retry: { status: 409, message: 'The job has no items to retry.' },
  too_many_items: { status: 400, message: 'The job has more items (prompts × models) than the server accepts.' },
  invalid_cursor: { status: 400, message: 'The cursor is not one this server issued.' },
  missing_file: { status: 400, message: 'The upload has no `file` part.' },
  empty_upload: { status: 400, message: 'The uploaded file is empty.' },
  upload_too_large: { status: 413, message: 'The uploaded file is larger than the server accepts.' },
  invalid_upload: { status: 400, message: 'A line of the uploaded file is malformed.' },
  unsupported_upload_type: { status: 415, message: 'Upload a .jsonl (JSON Lines) or .csv file.' },
  too_many_frames: { status: 429, message: 'The client sent frames faster than the server accepts.' },
  origin_forbidden: { status: 403, message: 'WebSocket upgrades with credentials are only accepted from allowed origins.' },
  // server side
  internal_error: { status: 500, message: 'The server failed to handle the request.' },
  unavailable: { status: 503, message: 'The server is shutting down or a dependency is unavailable.' },
  dependency_unavailable: { status: 503, message: 'A service the server depends on (named in `dependency`) is unavailable; retry later.' },
  // per-model failures (sent inside streams, and in `errors` of non-streaming answers)
  invalid_model: { status: 400, message: 'Unknown model.' },
  auth: { status: 502, message: 'The provider rejected the credentials.' },
  // Also a quota of ours (identity/quotas.ts): then `limit` names which one and `resetAt` when it resets.
  rate_limited: { status: 429, message: 'The provider is rate limiting requests.' },
  timeout: { status: 504, message: 'The provider did not answer in time.' },
  upstream_error: { status: 502, message: 'The provider failed.' },
  network: { status: 502, message: 'The connection to the provider failed.' },
  content_filter: { status: 400, message: 'The provider refused the content.' },
  context_length: { status: 400, message: 'The conversation is longer than the model accepts.' },
  cancelled: { status: 499, message: 'Cancelled.' },
  // OpenAI-compatible gateway (/v1/chat/completions, /v1/responses)
  unsupported_parameter: { status: 400, message: "The model's provider cannot honour a parameter of the request." },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** An error with a catalogue code. Thrown by modules that know nothing of HTTP. */
export class TributaryError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  /** Response headers the error carries (Retry-After, RateLimit-*). */
  readonly headers: Record<string, string> | undefined;
  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>, headers?: Record<string, string>) {
    super(message ?? ERROR_CATALOGUE[code].message);
    this.name = 'TributaryError';
    this.code = code;
    this.details = details;
    this.headers = headers;
  }
  get status(): number {
    return ERROR_CATALOGUE[this.code].status;
  }
  toJSON(): { code: ErrorCode; message: string } & Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.details };
  }
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERROR_CATALOGUE, value);
}
