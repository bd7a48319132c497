import type { Config, ProviderConfig } from '../config/schema.js';
import { anthropicDialect } from './anthropic-dialect.js';
import { DemoProvider } from './demo-provider.js';
import { openaiDialect } from './openai-dialect.js';
import type { Provider } from './provider.js';
import type { HttpProvider } from './upstream/http-provider.js';

/** Defaults of the providers the environment shortcuts enable. */
export const PROVIDER_PRESETS: Record<
  string,
  { dialect: 'openai' | 'anthropic'; baseUrl: string; label: string; maxTokensField?: 'max_tokens' | 'max_completion_tokens' }
> = {
  openai: { dialect: 'openai', baseUrl: 'https://api.openai.com/v1', label: 'OpenAI', maxTokensField: 'max_completion_tokens' },
  openrouter: { dialect: 'openai', baseUrl: 'https://openrouter.ai/api/v1', label: 'OpenRouter' },
  anthropic: { dialect: 'anthropic', baseUrl: 'https://api.anthropic.com', label: 'Anthropic' },
};

/** The demo provider plus one HttpProvider per configured upstream. */
export async function buildProviders(config: Config, warn: (message: string) => void): Promise<Provider[]> {
  const providers: Provider[] = [new DemoProvider({ speed: config.demo.speed, models: config.demo.models })];
  const upstreams = Object.entries(config.providers);
  if (upstreams.length === 0) return providers;
  // undici loads only when there is an upstream: it is the largest module a keyless start would parse.
  const { HttpProvider } = await import('./upstream/http-provider.js');
  for (const [id, entry] of upstreams) providers.push(upstreamProvider(HttpProvider, id, entry, config.catalogue.refreshSeconds * 1000, warn));
  return providers;
}

function upstreamProvider(
  HttpProvider: typeof import('./upstream/http-provider.js').HttpProvider,
  id: string,
  entry: ProviderConfig,
  listingTtlMs: number,
  warn: (message: string) => void,
): HttpProvider {
  const preset = PROVIDER_PRESETS[id];
  const dialectName = entry.dialect ?? preset?.dialect ?? 'openai';
  const dialect = dialectName === 'anthropic' ? anthropicDialect : openaiDialect;
  return new HttpProvider(
    {
      id,
      label: entry.label ?? preset?.label ?? id,
      baseUrl: (entry.baseUrl ?? preset?.baseUrl) as string, // the schema requires one without a preset
      apiKey: entry.apiKey,
      headers: entry.headers,
      models: entry.models.map((m) => ({ id: m.id, name: m.name ?? m.id, contextLength: m.contextLength ?? null, pricing: m.pricing })),
      listModels: entry.listModels,
      listingTtlMs,
      maxTokensField: entry.maxTokensField ?? preset?.maxTokensField ?? 'max_tokens',
      includeUsage: entry.includeUsage,
      timeouts: entry.timeouts,
      retry: entry.retry,
      connections: entry.connections,
      keepAliveMs: entry.keepAliveMs,
    },
    dialect,
    warn,
  );
}

/** Providers whose ids resolve without their prefix: `bareIds: true`, and OpenRouter's by default when it has a key. */
export function bareIdProviders(config: Config): string[] {
  return Object.entries(config.providers)
    .filter(([id, p]) => p.bareIds ?? (id === 'openrouter' && p.apiKey !== undefined))
    .map(([id]) => id);
}
