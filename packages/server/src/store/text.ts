/** Any character that might need work: the cheap test that lets ordinary text through untouched. */
const SUSPECT = /[\u0000\uD800-\uDFFF]/;
/** A lone surrogate: UTF-8 (what both databases store) has no form for it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text both dialects store and return identically: PostgreSQL refuses NUL (SQLite keeps it)
 * and both would turn a lone surrogate into U+FFFD. Each becomes U+FFFD here, on both.
 */
export function storedText(value: string): string {
  if (!SUSPECT.test(value)) return value; // every token passes here: keep the common case one scan
  return value.replace(LONE_SURROGATE, '\uFFFD').replaceAll('\u0000', '\uFFFD');
}

/** What in `value` could not be stored as given ('nul' or 'lone_surrogate'), or undefined. */
export function unstorableText(value: string): 'nul' | 'lone_surrogate' | undefined {
  if (value.includes('\u0000')) return 'nul';
  LONE_SURROGATE.lastIndex = 0;
  return LONE_SURROGATE.test(value) ? 'lone_surrogate' : undefined;
}
