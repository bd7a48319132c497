import type { ModelInfo, Provider } from './provider.js';

/** Every model the server can run, grouped by provider; resolves ids to their provider. */
export class ModelCatalogue {
  private models = new Map<string, { info: ModelInfo; provider: Provider }>();

  constructor(private readonly providers: Provider[]) {}

  async refresh(): Promise<void> {
    const next = new Map<string, { info: ModelInfo; provider: Provider }>();
    for (const provider of this.providers) {
      for (const info of await provider.listModels()) next.set(info.id, { info, provider });
    }
    this.models = next;
  }

  list(): ModelInfo[] {
    return [...this.models.values()].map((m) => m.info);
  }

  byProvider(): Record<string, ModelInfo[]> {
    const groups: Record<string, ModelInfo[]> = {};
    for (const info of this.list()) (groups[info.provider] ??= []).push(info);
    return groups;
  }

  resolve(id: string): { info: ModelInfo; provider: Provider } | undefined {
    return this.models.get(id);
  }
}
