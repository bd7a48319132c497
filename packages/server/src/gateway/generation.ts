import { TributaryError } from '../errors.js';
import type { ModelCatalogue } from '../llm/catalogue.js';
import type { ChatMessage, GenerationOptions, GenerationRequest, OptionName, Provider } from '../llm/provider.js';

const NONE: ReadonlySet<OptionName> = new Set();

/** What either OpenAI surface (Chat Completions, Responses) asks of a model, in our terms. */
export interface GatewayAsk {
  model: string;
  messages: ChatMessage[];
  maxOutputTokens: number;
  temperature?: number | null | undefined;
  top_p?: number | null | undefined;
  stop?: string[] | undefined;
  options: GenerationOptions;
  signal: AbortSignal;
}

/**
 * Resolves the model (an unknown id fails here, before any upstream call) and refuses what its
 * provider cannot honour with `unsupported_parameter` naming the parameter — never a silent drop.
 * `names` maps our option names to the caller's own (Responses calls `response_format` `text.format`).
 */
export function prepareGeneration(
  catalogue: ModelCatalogue,
  ask: GatewayAsk,
  names: Partial<Record<OptionName, string>> = { name: 'messages[].name' },
): { provider: Provider; request: GenerationRequest } {
  const resolved = catalogue.resolve(ask.model);
  if (!resolved) throw new TributaryError('invalid_model', `The model \`${ask.model}\` does not exist; GET /v1/models lists the models.`, { param: 'model' });
  const { provider } = resolved;
  const supported = provider.supports?.(ask.model) ?? NONE;
  const refuse = (name: OptionName) => {
    const param = names[name] ?? name;
    throw new TributaryError('unsupported_parameter', `The model \`${ask.model}\` (provider \`${provider.id}\`) cannot honour \`${param}\`; remove it.`, {
      param,
    });
  };
  if (ask.temperature != null && !supported.has('temperature')) refuse('temperature');
  if (ask.top_p != null && !supported.has('top_p')) refuse('top_p');
  if (ask.stop?.length && !supported.has('stop')) refuse('stop');
  if (!supported.has('name') && ask.messages.some((m) => m.name !== undefined)) refuse('name');
  const { options } = ask;
  let any = false;
  for (const key in options) {
    if (options[key as keyof GenerationOptions] === undefined) continue;
    any = true;
    if (!supported.has(key as OptionName)) refuse(key as OptionName);
  }
  checkToolChoice(options, names);
  return {
    provider,
    request: {
      model: ask.model,
      messages: ask.messages,
      maxOutputTokens: ask.maxOutputTokens,
      tier: 'standard',
      signal: ask.signal,
      params: { temperature: ask.temperature ?? undefined, topP: ask.top_p ?? undefined, stop: ask.stop },
      ...(any ? { options } : {}),
    },
  };
}

/** OpenAI's own rules: a tool choice needs tools, and a named one must be among them. */
function checkToolChoice(options: GenerationOptions, names: Partial<Record<OptionName, string>>): void {
  const choice = options.tool_choice;
  if (choice === undefined) return;
  const param = names.tool_choice ?? 'tool_choice';
  if (!options.tools?.length) throw new TributaryError('invalid_field', `${param}: only allowed when tools are given.`, { field: param });
  if (typeof choice === 'object' && !options.tools.some((t) => t.name === choice.name)) {
    throw new TributaryError('invalid_field', `${param}: no tool named \`${choice.name}\` is given.`, { field: param });
  }
}

/** Drops undefined and null values, so only what the caller really asked for counts. */
export function definedOptions(options: Record<string, unknown>): GenerationOptions {
  const out: Record<string, unknown> = {};
  for (const key in options) if (options[key] != null) out[key] = options[key];
  return out as GenerationOptions;
}
