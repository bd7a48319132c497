import secureJson from 'secure-json-parse';
import { TributaryError } from '../errors.js';

/** Bounds on JSON from outside (HTTP bodies, WebSocket messages). */
export interface JsonLimits {
  /** Deepest nesting of arrays and objects. */
  maxDepth: number;
  /** Longest string (keys included), in UTF-16 units of the raw text. */
  maxStringLength: number;
  /** Most items in one array or object. */
  maxItems: number;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = { maxDepth: 64, maxStringLength: 262_144, maxItems: 10_000 };

const QUOTE = 34;
const BACKSLASH = 92;
const OPEN_ARRAY = 91;
const CLOSE_ARRAY = 93;
const OPEN_OBJECT = 123;
const CLOSE_OBJECT = 125;
const COMMA = 44;

/**
 * Scans raw JSON text in one loop (no recursion, memory bounded by `maxDepth`) and throws the
 * first limit it crosses. Runs before JSON.parse, so nothing recursive (the parser, zod,
 * JSON.stringify) ever sees input deep enough to overflow the stack. Syntax is JSON.parse's job.
 */
export function checkJsonLimits(text: string, limits: JsonLimits): void {
  const items: number[] = [];
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i + 1;
      for (i = start; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === BACKSLASH) i++;
        else if (d === QUOTE) break;
      }
      if (i - start > limits.maxStringLength) {
        throw new TributaryError('string_too_long', `A JSON string is ${i - start} characters long; at most ${limits.maxStringLength}.`, {
          limit: limits.maxStringLength,
        });
      }
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (items.length >= limits.maxDepth) {
        throw new TributaryError('too_deep', `The JSON nests deeper than ${limits.maxDepth} levels.`, { limit: limits.maxDepth });
      }
      items.push(1);
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      items.pop();
    } else if (c === COMMA && items.length > 0) {
      const top = items.length - 1;
      if (++items[top]! > limits.maxItems) {
        throw new TributaryError('too_many_elements', `A JSON array or object has more than ${limits.maxItems} items.`, { limit: limits.maxItems });
      }
    }
  }
}

/**
 * Parses JSON from outside: limits first, then a parse that refuses `__proto__` and
 * `constructor.prototype` keys (prototype poisoning). Throws `invalid_json` or a limit's code.
 */
export function parseJson(text: string, limits: JsonLimits): unknown {
  checkJsonLimits(text, limits);
  try {
    return secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (err) {
    throw new TributaryError('invalid_json', `The text is not valid JSON: ${(err as Error).message}`);
  }
}
