import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { parse as csvParse, type CsvError } from 'csv-parse';
import { TributaryError } from '../errors.js';
import type { JobPrompt } from './types.js';

export type PromptFileKind = 'jsonl' | 'csv';

const invalid = (line: number, message: string) => new TributaryError('invalid_upload', `Line ${line}: ${message}`, { line });

/** The file kind from its name, then its declared type; undefined when neither says. */
export function promptFileKind(filename: string, mimetype: string): PromptFileKind | undefined {
  const name = filename.toLowerCase();
  if (name.endsWith('.jsonl') || name.endsWith('.ndjson')) return 'jsonl';
  if (name.endsWith('.csv')) return 'csv';
  if (/^application\/(x-)?(jsonl|ndjson|json-lines|jsonlines)$/.test(mimetype)) return 'jsonl';
  if (mimetype === 'text/csv') return 'csv';
  return undefined;
}

function promptOf(line: number, value: Record<string, unknown>): JobPrompt {
  const { prompt, id, system } = value;
  if (typeof prompt !== 'string') throw invalid(line, 'needs a "prompt" string.');
  if (prompt.trim() === '') throw invalid(line, 'the prompt is empty.');
  if (id !== undefined && id !== null && typeof id !== 'string' && typeof id !== 'number') throw invalid(line, '"id" must be a string or a number.');
  if (system !== undefined && system !== null && typeof system !== 'string') throw invalid(line, '"system" must be a string.');
  return {
    prompt,
    ...(id !== undefined && id !== null && id !== '' ? { id: String(id) } : {}),
    ...(typeof system === 'string' && system !== '' ? { system } : {}),
  };
}

/** JSON Lines, one object with a `prompt` per line; blank lines are skipped. */
class JsonlPrompts {
  readonly prompts: JobPrompt[] = [];
  private rest = '';
  private line = 0;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  write(chunk: Buffer): void {
    let text: string;
    try {
      text = this.rest + this.decoder.decode(chunk, { stream: true });
    } catch {
      throw invalid(this.line + 1, 'not UTF-8 text.');
    }
    const lines = text.split('\n');
    this.rest = lines.pop()!;
    for (const l of lines) this.take(l);
  }

  end(): void {
    if (this.rest !== '') this.take(this.rest);
  }

  private take(raw: string): void {
    this.line++;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(this.line === 1 ? text.replace(/^\uFEFF/, '') : text);
    } catch (err) {
      throw invalid(this.line, `not valid JSON (${(err as Error).message}).`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(this.line, 'not a JSON object.');
    this.prompts.push(promptOf(this.line, value as Record<string, unknown>));
  }
}

/** CSV with a header naming a `prompt` column (optional `id`, `system`); csv-parse does the quoting rules. */
class CsvPrompts {
  readonly prompts: JobPrompt[] = [];
  private failure: TributaryError | undefined;
  private readonly parser = csvParse({
    bom: true,
    skip_empty_lines: true,
    info: true,
    trim: false,
    columns: (header: string[]) => {
      const names = header.map((h) => h.trim().toLowerCase());
      if (!names.includes('prompt')) throw invalid(1, 'the header has no "prompt" column.');
      return names;
    },
  });

  constructor() {
    this.parser.on('data', ({ record, info }: { record: Record<string, string>; info: { lines: number } }) => {
      if (this.failure) return;
      try {
        this.prompts.push(promptOf(info.lines, record));
      } catch (err) {
        this.failure = err as TributaryError;
      }
    });
    this.parser.on('error', (err: CsvError | TributaryError) => {
      this.failure ??=
        err instanceof TributaryError ? err : invalid(Number((err as { lines?: number }).lines ?? 1), err.message.replace(/^Invalid Record Length: /, ''));
    });
  }

  write(chunk: Buffer): void {
    this.parser.write(chunk);
    if (this.failure) throw this.failure;
  }

  async end(): Promise<void> {
    this.parser.end();
    await finished(this.parser).catch(() => undefined);
    if (this.failure) throw this.failure;
  }
}

/**
 * Streams an upload to `file` while parsing it; a malformed line stops it with its line number
 * (`invalid_upload`), and the file is removed on any failure. Checks the size limit through
 * `truncated` (the multipart reader stops at the limit).
 */
export async function readPromptFile(
  source: AsyncIterable<Buffer> & { truncated?: boolean },
  kind: PromptFileKind,
  file: string,
  limitBytes: number,
): Promise<JobPrompt[]> {
  const out = createWriteStream(file);
  const parser = kind === 'csv' ? new CsvPrompts() : new JsonlPrompts();
  let bytes = 0;
  try {
    for await (const chunk of source) {
      bytes += chunk.length;
      if (source.truncated || bytes > limitBytes) throw tooLarge(limitBytes);
      if (!out.write(chunk)) await once(out, 'drain');
      parser.write(chunk);
    }
    if (source.truncated) throw tooLarge(limitBytes);
    await parser.end();
    out.end();
    await finished(out);
    if (bytes === 0 || parser.prompts.length === 0)
      throw new TributaryError('empty_upload', bytes === 0 ? 'The uploaded file is empty.' : 'The uploaded file has no prompts.');
    return parser.prompts;
  } catch (err) {
    // The file may still be opening: wait until the stream is closed, or the removal could come first.
    if (!out.closed) {
      const closed = once(out, 'close').catch(() => undefined);
      out.destroy();
      await closed;
    }
    await rm(file, { force: true });
    if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') throw tooLarge(limitBytes);
    throw err;
  }
}

const tooLarge = (limit: number) => new TributaryError('upload_too_large', `The file is larger than ${limit} bytes.`, { limitBytes: limit });
