import type { Config } from '../config/schema.js';

export type FlagName = keyof Config['flags'];

/** Feature flags, read per request so a later flag service can change them live. */
export class Flags {
  private readonly values: Record<FlagName, boolean>;

  constructor(initial: Config['flags']) {
    this.values = { ...initial };
  }

  isEnabled(name: FlagName): boolean {
    return this.values[name];
  }

  set(name: FlagName, value: boolean): void {
    this.values[name] = value;
  }

  all(): Record<FlagName, boolean> {
    return { ...this.values };
  }
}
