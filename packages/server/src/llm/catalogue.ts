import type { ModelInfo, Provider } from './provider.js';

/**
 * Every model the server can run, grouped by provider; resolves ids to their provider.
 * Providers list their own models (upstream listings are cached by the provider); one
 * provider failing to list never empties another's models.
 */
export class ModelCatalogue {
  private models = new Map<string, { info: ModelInfo; provider: Provider }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly providers: Provider[],
    private readonly warn: (message: string) => void = () => undefined,
  ) {}

  async refresh(): Promise<void> {
    const lists = await Promise.allSettled(this.providers.map((p) => p.listModels()));
    const next = new Map<string, { info: ModelInfo; provider: Provider }>();
    lists.forEach((list, i) => {
      const provider = this.providers[i]!;
      if (list.status === 'fulfilled') {
        for (const info of list.value) next.set(info.id, { info, provider });
        return;
      }
      this.warn(`provider ${provider.id}: listing failed (${(list.reason as Error)?.message}); keeping its previous models`);
      for (const [id, entry] of this.models) if (entry.provider === provider) next.set(id, entry);
    });
    this.models = next;
  }

  /** Refreshes every `intervalMs` in the background until `close`. */
  refreshEvery(intervalMs: number): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => void this.refresh().catch((err) => this.warn(`catalogue refresh failed: ${(err as Error).message}`)), intervalMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.allSettled(this.providers.map((p) => p.close?.()));
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
