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
 * Checkpoints of a comparison's running models: a model's text is saved after
 * `checkpointTokens` new tokens (counted as they arrive), and by `saveDue()` — which the service
 * calls every `checkpointMs` — when it has text not yet saved. So a model that stalls mid-answer
 * still has its latest text saved, and no token pays for a clock read. `save` returns false when
 * the write budget refused it; the next trigger tries again.
 */
export class Checkpoints {
  private readonly tokens: number[];
  private readonly saved: number[];

  constructor(
    private readonly states: readonly ModelState[],
    private readonly checkpointTokens: number,
    private readonly save: (position: number, state: ModelState, outputTokens: number) => boolean,
  ) {
    this.tokens = states.map(() => 0);
    this.saved = states.map(() => 0);
  }

  /** After each piece of text of the model at `position`. */
  onText(position: number, outputTokens: number): void {
    this.tokens[position] = outputTokens;
    if (outputTokens - this.saved[position]! >= this.checkpointTokens) this.saveOne(position);
  }

  /** Saves every running model with text not yet saved. */
  saveDue(): void {
    for (let i = 0; i < this.states.length; i++) {
      // An ended model's result is queued already: a checkpoint must not follow it.
      if (this.states[i]!.status === 'running' && this.tokens[i]! > this.saved[i]!) this.saveOne(i);
    }
  }

  private saveOne(position: number): void {
    const outputTokens = this.tokens[position]!;
    if (this.save(position, this.states[position]!, outputTokens)) this.saved[position] = outputTokens;
  }
}
