import { TributaryError } from '../errors.js';
import type { BatchSink, GenerationRequest, ModelInfo, Provider } from './provider.js';

/** How ids other than catalogue ids resolve (config `models.aliases`, `providers.<id>.bareIds`). */
export interface ResolveOptions {
  /** alias → catalogue id (or an id that resolves as bare). */
  aliases?: Record<string, string>;
  /** Providers whose own model ids are accepted without their `<provider>/` prefix. */
  bareIdProviders?: string[];
}

/**
 * Every model the server can run, grouped by provider; resolves ids to their provider.
 * Providers list their own models (upstream listings are cached by the provider); one
 * provider failing to list never empties another's models.
 */
export class ModelCatalogue {
  private models = new Map<string, { info: ModelInfo; provider: Provider }>();
  private timer: NodeJS.Timeout | undefined;
  /** Per catalogue id: its provider with requests re-addressed to that id (for aliases and bare ids). */
  private readonly addressed = new Map<string, Provider>();

  constructor(
    private readonly providers: Provider[],
    private readonly warn: (message: string) => void = () => undefined,
    private readonly options: ResolveOptions = {},
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
    for (const [alias, target] of Object.entries(this.options.aliases ?? {})) {
      try {
        if (!this.resolve(alias)) this.warn(`models.aliases: ${alias} → ${target} names no model in the catalogue`);
      } catch (err) {
        this.warn(`models.aliases: ${alias} → ${(err as Error).message}`);
      }
    }
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

  /**
   * The model an id names: a catalogue id, else an alias, else a bare id of a `bareIds`
   * provider. The upstream always gets the catalogue id, whatever id the client used.
   * Undefined when nothing claims the id; throws `ambiguous_model` when several providers do.
   */
  resolve(id: string): { info: ModelInfo; provider: Provider } | undefined {
    const exact = this.models.get(id);
    if (exact) return exact;
    const alias = this.options.aliases?.[id];
    const target = alias !== undefined ? (this.models.get(alias) ?? this.bare(alias)) : this.bare(id);
    return target && { info: target.info, provider: this.addressedTo(target.info.id, target.provider) };
  }

  private bare(id: string): { info: ModelInfo; provider: Provider } | undefined {
    const candidates = (this.options.bareIdProviders ?? []).map((p) => this.models.get(`${p}/${id}`)).filter((m) => m !== undefined);
    if (candidates.length > 1) {
      const ids = candidates.map((c) => c.info.id);
      throw new TributaryError(
        'ambiguous_model',
        `The model id \`${id}\` is served by several providers: ${ids.join(', ')}. Use one of these ids (or a models.aliases entry).`,
        { model: id, candidates: ids },
      );
    }
    return candidates[0];
  }

  private addressedTo(modelId: string, provider: Provider): Provider {
    let wrapped = this.addressed.get(modelId);
    if (!wrapped) {
      wrapped = {
        id: provider.id,
        listModels: () => provider.listModels(),
        stream: (request: GenerationRequest) => provider.stream({ ...request, model: modelId }),
        ...(provider.streamBatches ? { streamBatches: (request: GenerationRequest) => provider.streamBatches!({ ...request, model: modelId }) } : {}),
        ...(provider.relay ? { relay: (request: GenerationRequest, sink: BatchSink) => provider.relay!({ ...request, model: modelId }, sink) } : {}),
        ...(provider.supports ? { supports: () => provider.supports!(modelId) } : {}),
      };
      this.addressed.set(modelId, wrapped);
    }
    return wrapped;
  }
}
