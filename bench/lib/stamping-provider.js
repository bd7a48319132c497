import { now } from './clock.js';

/**
 * Wraps a provider and records when each non-empty delta is yielded, keyed by
 * (last user message, model); the array index is the delta index. Tributary skips empty
 * deltas too, so indices line up with the `chunk` frames a client receives.
 *
 * It also records when the consumer pulls the next chunk after a delta: both servers write a
 * delta before asking for the next one, so `pulled − yielded` bounds the server's own time
 * for the token (publish, encode, res.write), apart from transport and client.
 */
export class StampingProvider {
  constructor(inner) {
    this.inner = inner;
    /** prompt -> model -> yield times */
    this.stamps = new Map();
    /** Non-empty deltas yielded since start (a window's token count: its difference). */
    this.yields = 0;
  }

  get id() {
    return this.inner.id;
  }

  listModels() {
    return this.inner.listModels();
  }

  async *stream(request) {
    const prompt = lastUserContent(request.messages);
    let byModel = this.stamps.get(prompt);
    if (!byModel) this.stamps.set(prompt, (byModel = new Map()));
    const yielded = [];
    const pulled = [];
    byModel.set(request.model, { yielded, pulled });
    for await (const chunk of this.inner.stream(request)) {
      if (chunk.type !== 'delta' || chunk.text === '') {
        yield chunk;
        continue;
      }
      yielded.push(now());
      this.yields++;
      yield chunk;
      pulled.push(now());
    }
  }

  /** The recorded stamps as { prompt: { model: { yielded, pulled } } } of Float64Arrays, and forgets them. */
  take() {
    const out = {};
    for (const [prompt, byModel] of this.stamps) {
      out[prompt] = {};
      for (const [model, { yielded, pulled }] of byModel) {
        out[prompt][model] = { yielded: Float64Array.from(yielded), pulled: Float64Array.from(pulled) };
      }
    }
    this.stamps.clear();
    return out;
  }

  clear() {
    this.stamps.clear();
  }
}

function lastUserContent(messages) {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i].role === 'user') return messages[i].content;
  return '';
}
