import { now } from './clock.js';

/**
 * Wraps a provider and records when each non-empty delta is yielded, keyed by
 * (last user message, model); the array index is the delta index. Tributary skips empty
 * deltas too, so indices line up with the `chunk` frames a client receives.
 */
export class StampingProvider {
  constructor(inner) {
    this.inner = inner;
    /** prompt -> model -> yield times */
    this.stamps = new Map();
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
    const times = [];
    byModel.set(request.model, times);
    for await (const chunk of this.inner.stream(request)) {
      if (chunk.type === 'delta' && chunk.text !== '') times.push(now());
      yield chunk;
    }
  }

  /** The recorded stamps as a plain object of Float64Arrays, and forgets them. */
  take() {
    const out = {};
    for (const [prompt, byModel] of this.stamps) {
      out[prompt] = {};
      for (const [model, times] of byModel) out[prompt][model] = Float64Array.from(times);
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
