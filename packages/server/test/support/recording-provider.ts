import type { GenerationRequest, Provider } from '../../src/llm/provider.js';

/** Wraps a provider and records what each model was asked (tests assert on prompts). */
export class RecordingProvider implements Provider {
  readonly requests: Omit<GenerationRequest, 'signal'>[] = [];
  readonly aborted: string[] = [];
  constructor(private readonly inner: Provider) {}
  get id() {
    return this.inner.id;
  }
  listModels() {
    return this.inner.listModels();
  }
  stream(request: GenerationRequest) {
    const { signal, ...rest } = request;
    this.requests.push(structuredClone(rest));
    signal.addEventListener('abort', () => this.aborted.push(request.model), { once: true });
    return this.inner.stream(request);
  }
}
