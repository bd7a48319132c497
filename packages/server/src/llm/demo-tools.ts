/**
 * Tool calling for the demo models, deterministic so tests and the quick start show a tool
 * loop with no keys: offered tools and a last turn from the user (or `tool_choice` forcing a
 * call) → the model calls the chosen tool with arguments derived from the prompt; after a
 * tool result → it answers with text quoting that result. Pure functions.
 */
import { hashString } from './demo-text.js';
import type { ChatMessage, GenerationOptions, ToolCall, ToolDefinition } from './provider.js';

/** Longest prompt text put into a string argument. */
const MAX_ARGUMENT_CHARS = 200;
/** Characters per streamed piece of the arguments. */
const ARGUMENT_PIECE_CHARS = 8;

/** The call a demo model makes for this request, or undefined when it answers with text. */
export function demoToolCall(model: string, messages: ChatMessage[], options: GenerationOptions | undefined): ToolCall | undefined {
  const tools = options?.tools;
  const choice = options?.tool_choice ?? 'auto';
  if (!tools?.length || choice === 'none') return undefined;
  const forced = choice === 'required' || typeof choice === 'object';
  if (!forced && messages.at(-1)?.role !== 'user') return undefined;
  const tool = typeof choice === 'object' ? tools.find((t) => t.name === choice.name) : tools[0];
  if (!tool) return undefined;
  const prompt = lastUserText(messages);
  const args = JSON.stringify(demoArguments(tool, prompt));
  const id = `call_demo${hashString(JSON.stringify([model, messages.length, tool.name, prompt]))
    .toString(16)
    .padStart(8, '0')}`;
  return { id, name: tool.name, arguments: args };
}

/** After a tool result, the demo's whole answer: it quotes the result; undefined otherwise. */
export function demoToolAnswer(messages: ChatMessage[]): string | undefined {
  const last = messages.at(-1);
  if (last?.role !== 'tool') return undefined;
  const call = messages.flatMap((m) => m.toolCalls ?? []).find((c) => c.id === last.toolCallId);
  return `The ${call?.name ?? 'tool'} tool returned: ${last.content}`;
}

/** The arguments in streamed pieces, as a real model writes them. */
export function argumentPieces(args: string): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < args.length; i += ARGUMENT_PIECE_CHARS) pieces.push(args.slice(i, i + ARGUMENT_PIECE_CHARS));
  return pieces;
}

/**
 * One value per parameter (the `required` ones when the schema names some): strings get the
 * prompt, numbers its word count, booleans true, enums their first value, string arrays the
 * prompt; other types are left out.
 */
function demoArguments(tool: ToolDefinition, prompt: string): Record<string, unknown> {
  const schema = tool.parameters ?? {};
  const properties = isObject(schema.properties) ? schema.properties : {};
  const required = Array.isArray(schema.required) ? schema.required.filter((k): k is string => typeof k === 'string') : [];
  const names = required.length > 0 ? required : Object.keys(properties);
  const args: Record<string, unknown> = {};
  for (const name of names) {
    const property = properties[name];
    if (!isObject(property)) continue;
    const value = demoValue(property, prompt);
    if (value !== undefined) args[name] = value;
  }
  return args;
}

function demoValue(property: Record<string, unknown>, prompt: string): unknown {
  if (Array.isArray(property.enum) && property.enum.length > 0) return property.enum[0];
  const type = Array.isArray(property.type) ? property.type.find((t) => t !== 'null') : property.type;
  switch (type) {
    case 'string':
      return prompt;
    case 'number':
    case 'integer':
      return prompt.split(/\s+/).filter(Boolean).length;
    case 'boolean':
      return true;
    case 'array':
      return isObject(property.items) && property.items.type === 'string' ? [prompt] : undefined;
    default:
      return undefined;
  }
}

function lastUserText(messages: ChatMessage[]): string {
  const text =
    [...messages]
      .reverse()
      .find((m) => m.role === 'user')
      ?.content.trim() ?? '';
  return text.length > MAX_ARGUMENT_CHARS ? text.slice(0, MAX_ARGUMENT_CHARS) : text;
}

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
