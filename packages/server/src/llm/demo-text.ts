/**
 * Deterministic, readable prose for the demo provider. Everything here is pure: the same
 * (seed key, messages, target length) always gives the same text, so tests and replays agree.
 */
import type { ChatMessage } from './provider.js';

// ---------------------------------------------------------------------------------------------
// Hashing and PRNG

/** FNV-1a, 32-bit. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** FNV-1a followed by a murmur3 finaliser: FNV's low bits are weak, and callers use `% n`. */
export function hashString(text: string): number {
  let h = fnv1a(text);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** mulberry32: tiny, fast, good enough for picking sentences. Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }
}

/** Draws without repeats until a pool is used up, then reshuffles (long answers reuse lines). */
class Deck {
  private cards: string[] = [];
  constructor(
    private readonly rng: Rng,
    private readonly pool: readonly string[],
  ) {}
  draw(): string {
    if (this.cards.length === 0) this.cards = this.rng.shuffle(this.pool);
    return this.cards.pop() as string;
  }
}

// ---------------------------------------------------------------------------------------------
// Tokens

// A token is a word (with its leading whitespace) or a run of one punctuation character.
// Leading whitespace is attached so that joining the tokens gives back the text exactly.
const TOKEN_RE = /\s*(?:[\p{L}\p{N}_]+(?:['’][\p{L}\p{N}]+)*|([^\s\p{L}\p{N}_])\1*)/gu;

/** Splits text into demo tokens; `tokens.join('')` equals the text (minus trailing space). */
export function tokenizeDemoText(text: string): string[] {
  return text.match(TOKEN_RE) ?? [];
}

function countTokens(text: string): number {
  return tokenizeDemoText(text).length;
}

// ---------------------------------------------------------------------------------------------
// Keywords

const STOPWORDS = new Set(
  (
    'a about above after again against all also am an and any are aren as at be because been before being below ' +
    'between both but by can cannot could did do does doing done down during each either else ever every few for ' +
    'from further get gets getting give go going got had has have having he her here hers him his how however i if ' +
    'in into is isn it its itself just know let like likely lot lots make makes many may me might mine more most ' +
    'much must my myself need needs no nor not now of off often on once one only or other our ours out over own ' +
    'please pretty quite rather really same say see she should show so some something such sure take tell than ' +
    'thank thanks that the their theirs them then there these they thing things think this those though through ' +
    'to too under until up upon us use used using very want wants was way ways we well were what whats when where ' +
    'whether which while who whom whose why will with within without would yes yet you your yours yourself ' +
    'explain describe write list compare summarize summarise help tell give provide discuss outline difference ' +
    'differences best good better great simple simply quick quickly short brief detail detailed example examples ' +
    'kind sort type types actually basically hello hey hi okay ok also versus vs etc able'
  ).split(/\s+/),
);

// Common verbs of questions: dropping them turns "tune PostgreSQL indexes" into a noun phrase.
const QUESTION_VERBS = new Set(
  (
    'work works working worked tune tuning parse build create implement improve fix choose start run runs set ' +
    'handle understand learn find speed decide avoid prevent reduce increase deal keep change mean means happen ' +
    'happens matter matters recommend suggest add remove convert try help terms words tips advice ideas steps guide ' +
    'overview introduction question questions'
  ).split(/\s+/),
);

/**
 * Up to `max` key phrases of a prompt (runs of content words, at most their last two words:
 * English noun phrases end in their head), most frequent first, then in order of appearance.
 */
export function extractKeywords(text: string, max = 3): string[] {
  const found = new Map<string, { phrase: string; count: number; first: number }>();
  let order = 0;
  const flush = (run: string[]): void => {
    if (run.length === 0) return;
    const phrase = run.slice(-2).join(' ');
    const key = phrase.toLowerCase();
    const entry = found.get(key);
    if (entry) entry.count++;
    else found.set(key, { phrase, count: 1, first: order++ });
    run.length = 0;
  };
  const run: string[] = [];
  const re = /[\p{L}\p{N}]+(?:['’.-][\p{L}\p{N}]+)*(?:\+\+|#)?/gu;
  let m: RegExpExecArray | null;
  let prevEnd = 0;
  while ((m = re.exec(text)) !== null) {
    const gap = text.slice(prevEnd, m.index);
    prevEnd = m.index + m[0].length;
    // Clauses never share a phrase.
    if (/[.,;:!?()[\]{}"“”\n\t]|\s[-–—]\s/u.test(gap)) flush(run);
    let word = m[0].replace(/['’]s$/u, '');
    const key = word.toLowerCase();
    const content =
      !STOPWORDS.has(key) && !QUESTION_VERBS.has(key) && word.length <= 24 && !/^[\p{N}.-]+$/u.test(word) && (word.length >= 3 || /\p{Lu}/u.test(word));
    // "Explain caching" → "caching", but keep proper nouns and acronyms written mid-sentence.
    const sentenceStart = m.index === 0 || /[.!?\n]/.test(gap) || text.slice(0, m.index).trim() === '';
    if (sentenceStart && /^\p{Lu}\p{Ll}+$/u.test(word)) word = word.toLowerCase();
    if (content) run.push(word);
    else flush(run);
  }
  flush(run);
  return [...found.values()]
    .sort((x, y) => y.count - x.count || x.first - y.first)
    .slice(0, max)
    .map((e) => e.phrase);
}

// ---------------------------------------------------------------------------------------------
// Phrase banks. {a} is the main keyword, {b} a second one (or a generic phrase).
// Templates never start with a slot, so a keyword's casing is never changed.

const INTROS = [
  'Good question: with {a}, a little structure goes a long way.',
  'Happy to help with {a}.',
  'Here is an overview of {a}, with a few notes on {b} along the way.',
  "Sure, let's walk through {a} step by step.",
  'Great topic: there is more to {a} than it first appears.',
  'Let me break {a} down into its main parts.',
  'There are a few useful ways to look at {a}.',
];

const FRAMINGS = [
  'I will start with the big picture, then cover trade-offs and a few practical tips.',
  'The short version is that, with {a}, clarity and patience matter more than cleverness.',
  'There are a few angles worth separating, especially where {a} touches {b}.',
  'Below is a quick tour, from the basics to some things to watch out for.',
  'The details depend on your situation, but the main ideas carry over well.',
];

const FOLLOW_UPS = [
  'Good follow-up.',
  "Building on the previous answer, let's go a bit further.",
  'Picking up where we left off.',
  'Thanks for the follow-up question.',
  'That is a natural next question.',
];

const GENERAL = [
  'None of this has to be perfect on the first attempt.',
  'It is worth keeping the goal in view, because it is easy to get lost in the details of {a}.',
  'The same ideas apply whether the project is small or large; only the scale changes.',
  'Clear names and short notes help more than most people expect.',
  'A little consistency around {b} pays off every time someone new joins.',
  'Most of the value comes from doing the simple things reliably.',
  'If something feels complicated, it is often a sign that two concerns are mixed together.',
  'Feedback from real use is the most honest guide you will get.',
];

interface Theme {
  leads: readonly string[];
  body: readonly string[];
}

// In the order an answer naturally moves through them.
const THEMES: readonly Theme[] = [
  {
    leads: [
      'At its core, working with {a} is about getting a few fundamentals right before worrying about the details.',
      'The basic idea behind {a} is easier to grasp than it first looks.',
      'To set the scene, it helps to look at what you want {a} to achieve.',
      'Broadly speaking, questions about {a} sit at the point where goals and constraints meet.',
    ],
    body: [
      'Most of what matters follows from a handful of decisions made early on.',
      'Once those are clear, the role of {b} becomes much easier to reason about.',
      'People often describe {a} in abstract terms, but it is clearest with a concrete example.',
      'The details vary from case to case, yet the underlying pattern stays remarkably stable.',
      'It is worth separating what {a} must guarantee from what is merely convenient.',
      'Treating {a} as a series of small, testable steps makes the whole thing far less intimidating.',
      'A lot of confusion disappears once you name the inputs, the outputs and who depends on them.',
      'In many setups, the handling of {b} quietly shapes the behaviour of {a}, even when nobody planned it that way.',
    ],
  },
  {
    leads: [
      'Like most things, working with {a} comes with trade-offs.',
      'There is rarely one right answer when it comes to {a}.',
      'The interesting part is deciding what to optimise for.',
      'It helps to be explicit about what you are willing to give up.',
    ],
    body: [
      'A faster approach is often harder to maintain, while a simpler one may leave some performance on the table.',
      'The right balance depends on how often your needs around {a} change and who has to live with the result.',
      'Flexibility is valuable, but every extra option around {b} is something else to test and explain.',
      'Cost, speed and reliability pull in different directions, so pick the one that matters most to you.',
      'What works well for a small project can become a burden at scale, and the reverse is also true.',
      'It is usually cheaper to start simple and add complexity to {a} only when the need is proven.',
      'Be wary of advice that ignores context; a sensible choice for one team can be the wrong one for another.',
      'Writing the trade-offs down, even briefly, makes later decisions about {b} much easier.',
    ],
  },
  {
    leads: [
      'In practice, a few habits make {a} much smoother.',
      'On the practical side, start with the smallest version of {a} that could work.',
      'If you want to get going quickly, focus on the basics first.',
      'A practical way to approach {a} is to work in short, observable steps.',
    ],
    body: [
      'Measure before you change anything, so you can tell whether an improvement is real.',
      'Keep the setup for {b} simple enough that someone new can understand it in an afternoon.',
      'Automate the repetitive parts, but keep the important decisions visible.',
      'Small experiments tend to teach more about {a} than long debates.',
      'Good defaults beat clever tuning, especially when several people share the same setup.',
      'Check the results against a known example before trusting them on real work.',
      'When you do change something, change one thing at a time and note what happened.',
      'Leave yourself short notes on why you set up {a} the way you did; future you will be grateful.',
    ],
  },
  {
    leads: [
      'There are a few common pitfalls to watch for.',
      'One mistake that comes up often with {a} is moving too fast.',
      'It is also worth knowing where things tend to go wrong with {a}.',
      'Most problems with {a} are surprisingly predictable.',
    ],
    body: [
      'Optimising too early usually costs more than it saves.',
      'Edge cases around {b} are easy to miss until they show up at the worst possible moment.',
      'Assumptions that were true at the start quietly stop being true as things grow.',
      'Copying a setup without understanding it makes later problems much harder to diagnose.',
      'Ignoring failure paths is tempting, but failures are what people remember.',
      'Another trap is treating {a} as finished; this kind of work usually needs a little care over time.',
      'Vague goals lead to endless tweaking, so decide in advance what good enough looks like.',
      'When something breaks, resist the urge to change several things at once.',
    ],
  },
  {
    leads: [
      'As a next step, pick one small part of {a} and try it end to end.',
      'Looking ahead, it is worth revisiting {a} once you have real feedback.',
      'From here, the best move is usually to experiment.',
      'If you want to go further, a few directions stand out.',
    ],
    body: [
      'Compare a couple of approaches side by side rather than committing to the first one.',
      'Look at how others have handled {b}, but adapt their ideas to your own constraints.',
      'Set a date to review the decision, so it does not quietly become permanent.',
      'Share what you learn; explaining {a} to someone else is a good test of your understanding.',
      'Keep a short list of open questions about {b} and work through them one by one.',
      'Over time, the patterns will become familiar and the decisions much quicker.',
    ],
  },
];

const CLOSINGS = [
  'Hope this helps; happy to go deeper on {a} if you share more about your setup.',
  'In short: start simple with {a}, measure, and adjust once you see real results.',
  'If you tell me more about your constraints, I can make this more specific.',
  'That should give you a solid starting point for {a}.',
];

const LIST_LEADS = ['A few things to keep in mind:', 'A quick checklist:', 'Some practical steps:'];

const LIST_ITEMS = [
  'Start with the simplest version of {a} that works.',
  'Measure before and after each change.',
  'Keep {b} configurable rather than hard-coded.',
  'Write down the assumptions behind your choices.',
  'Test the failure paths, not just the happy path.',
  'Review the setup once real usage data arrives.',
  'Ask for feedback early, while changes are still cheap.',
];

const CODE_LEADS = ['Here is a minimal sketch to start from:', 'A small example makes this concrete:'];

const TECHNICAL_RE =
  /\b(code|coding|function|api|apis|javascript|typescript|js|ts|python|sql|query|queries|database|script|program|programming|bug|debug|error|server|class|regex|json|http|node|rust|java|compile|deploy|cache|caching|index|indexes)\b/i;

const GENERIC_SECONDARY = ['the surrounding setup', 'the details around it', 'the wider context'];
const FALLBACK_KEYWORDS = ['this topic'];

// ---------------------------------------------------------------------------------------------
// Composition

export interface ComposeOptions {
  /** Anything that should change the text (model id, tier); mixed into the seed. */
  seedKey: string;
  messages: ChatMessage[];
  /** Roughly how many tokens the answer should have. */
  targetTokens: number;
}

/** Readable, deterministic prose answering the last user message. */
export function composeDemoText(opts: ComposeOptions): string {
  const { messages } = opts;
  const seed = hashString(JSON.stringify([opts.seedKey, messages.map((m) => [m.role, m.content])]));
  const rng = new Rng(seed);
  const lastUser = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  const found = extractKeywords(lastUser);
  const keywords = found.length > 0 ? found : FALLBACK_KEYWORDS;
  const isFollowUp = messages.some((m) => m.role === 'assistant');
  const target = Math.max(1, Math.round(opts.targetTokens));

  // Fills {a} and {b}; {a} favours the first keyword so the answer stays on topic.
  const fill = (template: string): string => {
    const a = rng.chance(0.5) ? (keywords[0] as string) : rng.pick(keywords);
    const others = keywords.filter((k) => k !== a);
    const b = others.length > 0 ? rng.pick(others) : rng.pick(GENERIC_SECONDARY);
    return template.replaceAll('{a}', a).replaceAll('{b}', b);
  };

  const general = new Deck(rng, GENERAL);
  const closing = fill(rng.pick(CLOSINGS));
  const closingTokens = countTokens(' ' + closing);

  // Tiny budgets (custom configs): one short paragraph, no structure.
  if (target < 30) {
    const sentences = [fill(rng.pick(INTROS))];
    let count = countTokens(sentences.join(' '));
    while (count < target) {
      const s = fill(general.draw());
      sentences.push(s);
      count += countTokens(' ' + s);
    }
    return sentences.join(' ');
  }

  const blocks: string[] = [];
  let count = 0;
  const addBlock = (text: string): void => {
    blocks.push(text);
    count += countTokens((blocks.length > 1 ? '\n\n' : '') + text);
  };

  const intro: string[] = [];
  if (isFollowUp) intro.push(rng.pick(FOLLOW_UPS));
  intro.push(fill(rng.pick(INTROS)));
  if (target >= 150 || rng.chance(0.5)) intro.push(fill(rng.pick(FRAMINGS)));
  addBlock(intro.join(' '));

  // An extra block after the first body paragraph: code for technical prompts, else maybe a list.
  let extra: string | undefined;
  if (target >= 120) {
    if (TECHNICAL_RE.test(lastUser) && rng.chance(0.7)) extra = codeBlock(rng, keywords, lastUser);
    else if (rng.chance(0.45)) extra = listBlock(rng, fill);
  }
  // Counted against the budget from the start, so paragraphs leave room for it.
  let reserved = extra === undefined ? 0 : countTokens('\n\n' + extra);

  const bodyCount = Math.min(5, Math.max(1, Math.round(target / 110)));
  // Keep the themes in their natural order, skipping some when the answer is short.
  const themeIdx = rng
    .shuffle(THEMES.map((_, i) => i))
    .slice(0, bodyCount)
    .sort((x, y) => x - y);
  themeIdx.forEach((ti, p) => {
    const theme = THEMES[ti] as Theme;
    const last = p === bodyCount - 1;
    const goal = (target * (p + 1)) / bodyCount - (last ? closingTokens : 0) - reserved;
    const body = new Deck(rng, theme.body);
    let drawn = 0;
    const sentences = [fill(rng.pick(theme.leads))];
    let paragraphTokens = countTokens('\n\n' + sentences[0]);
    // At least two sentences per paragraph, unless that would badly overshoot a small budget.
    while (count + paragraphTokens < goal || (sentences.length < 2 && count + paragraphTokens < goal + 10)) {
      // Once the theme's lines are used up, continue with general ones rather than repeat.
      const s = fill(drawn++ < theme.body.length ? body.draw() : general.draw());
      sentences.push(s);
      paragraphTokens += countTokens(' ' + s);
    }
    // A lone paragraph keeps the closing line for after the extra block.
    if (last && p > 0) sentences.push(closing);
    addBlock(sentences.join(' '));
    if (p === 0 && extra !== undefined) {
      addBlock(extra);
      reserved = 0;
    }
    if (last && p === 0) addBlock(closing);
  });

  return blocks.join('\n\n');
}

function listBlock(rng: Rng, fill: (t: string) => string): string {
  const items = rng.shuffle(LIST_ITEMS).slice(0, rng.int(3, 4));
  const numbered = rng.chance(0.3);
  const lines = items.map((item, i) => `${numbered ? `${i + 1}.` : '-'} ${fill(item)}`);
  return `${rng.pick(LIST_LEADS)}\n\n${lines.join('\n')}`;
}

function codeBlock(rng: Rng, keywords: readonly string[], prompt: string): string {
  // Name the example after the topic, not after the language it is written in.
  const topic = keywords
    .map((k) => k.replace(/\b(python|sql|typescript|javascript|code|function|script|query)\b/gi, ' ').trim())
    .find((k) => /^[A-Za-z]/.test(k));
  const words = (topic ?? '')
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9]+/g, ' ')
    .trim()
    .split(' ')
    .filter(Boolean);
  const base = words.length > 0 ? words.slice(0, 3) : ['example'];
  const camel = base.map((w) => w.charAt(0).toUpperCase() + w.slice(1).toLowerCase()).join('');
  const snake = base.map((w) => w.toLowerCase()).join('_');
  const lead = rng.pick(CODE_LEADS);
  if (/\bpython\b/i.test(prompt)) {
    return [
      lead,
      '',
      '```python',
      `def try_${snake}(value):`,
      `    """A minimal starting point: one call, explicit options, visible result."""`,
      '    result = run(value, timeout=5)',
      `    print(f"${snake}: {result}")`,
      '    return result',
      '```',
    ].join('\n');
  }
  if (/\b(sql|query|queries|database)\b/i.test(prompt)) {
    return [
      lead,
      '',
      '```sql',
      '-- Look at the data before changing anything.',
      'SELECT id, created_at',
      `FROM ${snake}`,
      'ORDER BY created_at DESC',
      'LIMIT 10;',
      '```',
    ].join('\n');
  }
  return [
    lead,
    '',
    '```ts',
    '// Start small: one call, explicit options, visible result.',
    `async function try${camel}(input: string): Promise<string> {`,
    '  const started = Date.now();',
    '  const result = await run(input, { timeoutMs: 5000 });',
    `  console.log('${snake} took', Date.now() - started, 'ms');`,
    '  return result;',
    '}',
    '```',
  ].join('\n');
}
