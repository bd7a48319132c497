import type { Config } from '../config/schema.js';

export type FlagName = keyof Config['flags'];

/** Feature flags, read per request (never cached by callers) so a later flag service can change them live. */
export class Flags {
  private readonly values: Record<FlagName, boolean>;

  constructor(initial: Config['flags']) {
    this.values = { ...initial };
  }

  isEnabled(name: FlagName): boolean {
    return this.values[name];
  }
}
