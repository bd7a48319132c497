import type { Config } from '../config/schema.js';
import { TributaryError } from '../errors.js';
import { unstorableText } from '../store/text.js';
import type { ModelState } from './model-run.js';

/**
 * Refuses a NUL or a lone surrogate in text the client sends to be stored (400 invalid_text,
 * the same on both databases) rather than storing something other than what was sent.
 */
export function checkStorable(prompt: string, history: { content: string }[] | undefined): void {
  const check = (value: string, field: string) => {
    const problem = unstorableText(value);
    if (problem) {
      const what = problem === 'nul' ? 'a NUL character (U+0000)' : 'a lone UTF-16 surrogate';
      throw new TributaryError('invalid_text', `${field} contains ${what}, which cannot be stored.`, { field, problem });
    }
  };
  check(prompt, 'prompt');
  history?.forEach((m, i) => check(m.content, `history[${i}].content`));
}

/**
 * A model's checkpoint trigger: after `checkpointTokens` new tokens, or when `checkpointMs`
 * has passed since the last checkpoint (checked as tokens arrive). `save` returns false when
 * the write budget refused it; the next token tries again.
 */
export function checkpointer(
  opts: Pick<Config['durability'], 'checkpointTokens' | 'checkpointMs'>,
  save: (state: ModelState, outputTokens: number) => boolean,
): (state: ModelState, outputTokens: number) => void {
  let savedAtTokens = 0;
  let savedAt = performance.now();
  return (state, outputTokens) => {
    const now = performance.now();
    if (outputTokens - savedAtTokens < opts.checkpointTokens && now - savedAt < opts.checkpointMs) return;
    if (!save(state, outputTokens)) return;
    savedAtTokens = outputTokens;
    savedAt = now;
  };
}
