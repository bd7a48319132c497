import http from 'node:http';
import { now } from './clock.js';

export function keepAliveAgent() {
  return new http.Agent({ keepAlive: true, maxSockets: 1024, maxFreeSockets: 1024 });
}

/** Incremental SSE parser (WHATWG field rules, enough for our servers): calls onEvent({id, event, data}). */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buf = '';
    this.data = null;
    this.id = undefined;
    this.event = undefined;
  }

  push(text) {
    this.buf += text;
    let start = 0;
    let nl;
    while ((nl = this.buf.indexOf('\n', start)) !== -1) {
      let line = this.buf.slice(start, nl);
      start = nl + 1;
      if (line.endsWith('\r')) line = line.slice(0, -1);
      this.line(line);
    }
    this.buf = start === 0 ? this.buf : this.buf.slice(start);
  }

  line(line) {
    if (line === '') {
      if (this.data !== null) this.onEvent({ id: this.id, event: this.event, data: this.data });
      this.data = null;
      this.event = undefined;
      return;
    }
    if (line.charCodeAt(0) === 58 /* : comment */) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') this.data = this.data === null ? value : `${this.data}\n${value}`;
    else if (field === 'id') this.id = value;
    else if (field === 'event') this.event = value;
  }
}

/**
 * POSTs a seed-format comparison and reads its SSE stream. Every `chunk` frame gets the time
 * its bytes arrived (taken before parsing, once per socket read). Resolves with
 * { status, prompt, events, firstType, lastType, missingIds, received: { model: number[] } }.
 */
export function streamComparison({ port, path = '/compare-stream', agent, body, timeoutMs = 120_000 }) {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = http.request({
      host: '127.0.0.1', port, path, method: 'POST', agent,
      headers: { Accept: 'text/event-stream', 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
    });
    const timer = setTimeout(() => req.destroy(new Error(`comparison timed out after ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      const result = { status: res.statusCode, prompt: body.input_data, events: 0, firstType: null, lastType: null, missingIds: 0, modelErrors: 0, received: {} };
      let t = 0;
      const parser = new SseParser((message) => {
        result.events++;
        if (!message.id) result.missingIds++;
        const frame = JSON.parse(message.data);
        result.firstType ??= frame.type;
        result.lastType = frame.type;
        if (frame.type === 'chunk') (result.received[frame.model] ??= []).push(t);
        else if (frame.type === 'done' && frame.error) result.modelErrors++;
      });
      res.setEncoding('utf8');
      res.on('data', (text) => {
        t = now();
        parser.push(text);
      });
      res.on('end', () => {
        clearTimeout(timer);
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
