import type { GenerationChunk, GenerationRequest, ModelInfo, Provider } from '../../../server/src/llm/provider.js';

/**
 * A stand-in for an upstream model that answers a fixed text (e.g. Markdown with code and
 * math the demo models never write), a few characters per delta.
 */
export class ScriptedProvider implements Provider {
  readonly id = 'scripted';
  constructor(
    private readonly answers: Record<string, string>,
    private readonly delayMs = 5,
  ) {}

  async listModels(): Promise<ModelInfo[]> {
    return Object.keys(this.answers).map((id) => ({ id, name: `Scripted · ${id.split('/')[1]}`, provider: 'scripted', demo: false, contextLength: 8192 }));
  }

  async *stream(request: GenerationRequest): AsyncGenerator<GenerationChunk> {
    const text = this.answers[request.model] ?? '';
    const pieces = text.match(/[\s\S]{1,6}/g) ?? [];
    for (const piece of pieces) {
      await new Promise((r) => setTimeout(r, this.delayMs));
      if (request.signal.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
      yield { type: 'delta', text: piece };
    }
    yield { type: 'finish', finishReason: 'stop', usage: { inputTokens: 10, outputTokens: pieces.length } };
  }
}
