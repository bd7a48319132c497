import http from 'node:http';
import { now } from './clock.js';

export function keepAliveAgent() {
  return new http.Agent({ keepAlive: true, maxSockets: 1024, maxFreeSockets: 1024 });
}

const CHUNK_HEAD = '{"model":"';
const POSITION_DATA = '{"type":"position"}';
const CHUNK_TYPE = '","type":"chunk"';

/**
 * Incremental SSE parser, kept cheap so the load generator disturbs the latency it measures as
 * little as it can: frames end at a blank line, lines at \n or \r\n, comments are skipped.
 * Calls onEvent(id, data).
 */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buf = '';
  }

  push(text) {
    const buf = this.buf.length ? this.buf + text : text;
    let start = 0;
    for (;;) {
      let end = buf.indexOf('\n\n', start);
      let sep = 2;
      const crlf = buf.indexOf('\r\n\r\n', start);
      if (crlf !== -1 && (end === -1 || crlf < end)) {
        end = crlf;
        sep = 4;
      }
      if (end === -1) break;
      this.frame(buf, start, end);
      start = end + sep;
    }
    this.buf = start === 0 ? buf : buf.slice(start);
  }

  frame(buf, start, end) {
    let id;
    let data = null;
    while (start < end) {
      let nl = buf.indexOf('\n', start);
      if (nl === -1 || nl > end) nl = end;
      const lineEnd = buf.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      if (buf.startsWith('data:', start)) {
        const v = buf.slice(start + (buf.charCodeAt(start + 5) === 32 ? 6 : 5), lineEnd);
        data = data === null ? v : `${data}\n${v}`;
      } else if (buf.startsWith('id:', start)) {
        id = buf.slice(start + (buf.charCodeAt(start + 3) === 32 ? 4 : 3), lineEnd);
      }
      start = nl + 1;
    }
    if (data !== null) this.onEvent(id, data);
  }
}

/** Model of a seed `chunk` frame without a full JSON.parse (null when the frame is anything else). */
function chunkModel(data) {
  if (!data.startsWith(CHUNK_HEAD)) return null;
  const q = data.indexOf('"', CHUNK_HEAD.length);
  if (q === -1 || !data.startsWith(CHUNK_TYPE, q)) return null;
  const model = data.slice(CHUNK_HEAD.length, q);
  return model.includes('\\') ? null : model;
}

/** Text deltas received in all of `results` (streamComparison's answers). */
export function tokensOf(results) {
  let n = 0;
  for (const r of results) for (const times of Object.values(r.received)) n += times.length;
  return n;
}

/**
 * POSTs a seed-format comparison and reads its SSE stream. Every `chunk` frame gets the time
 * its bytes arrived (taken once per socket read, before parsing). Resolves with
 * { status, prompt, events, firstType, lastType, missingIds, modelErrors, received: { model: number[] } }.
 */
export function streamComparison({ port, path = '/compare-stream', agent, body, timeoutMs = 120_000 }) {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = http.request({
      host: '127.0.0.1',
      port,
      path,
      method: 'POST',
      agent,
      headers: { Accept: 'text/event-stream', 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
    });
    const timer = setTimeout(() => req.destroy(new Error(`comparison timed out after ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      const result = {
        status: res.statusCode,
        prompt: body.input_data,
        events: 0,
        firstType: null,
        lastType: null,
        missingIds: 0,
        modelErrors: 0,
        received: {},
      };
      let t = 0;
      // Seed streams send each event's id in a position frame right after it.
      let unplaced = false;
      const parser = new SseParser((id, data) => {
        if (data === POSITION_DATA) {
          if (id) unplaced = false;
          return;
        }
        if (unplaced) result.missingIds++;
        result.events++;
        unplaced = !id;
        const model = chunkModel(data);
        if (model !== null) {
          (result.received[model] ??= []).push(t);
          result.firstType ??= 'chunk';
          result.lastType = 'chunk';
          return;
        }
        const frame = JSON.parse(data);
        if (frame.type === 'chunk') (result.received[frame.model] ??= []).push(t);
        else if (frame.type === 'done' && frame.error) result.modelErrors++;
        result.firstType ??= frame.type;
        result.lastType = frame.type;
      });
      res.setEncoding('utf8');
      res.on('data', (text) => {
        t = now();
        parser.push(text);
      });
      res.on('end', () => {
        clearTimeout(timer);
        if (unplaced) result.missingIds++;
        resolve(result);
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    req.end(payload);
  });
}
