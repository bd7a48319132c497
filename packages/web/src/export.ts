import { outcome, seconds } from './format';
import type { Session } from './state/workspace';
import type { ModelRun, Turn } from './state/turn';

const statsLine = (run: ModelRun) =>
  `status ${run.status} · TTFT ${seconds(run.ttftMs)} · ${run.tokensPerSecond ?? '–'} tok/s · ${run.outputTokens ?? run.tokens} tokens · ${seconds(run.durationMs)}`;

function runMarkdown(run: ModelRun): string {
  const note = outcome(run);
  return [`*${statsLine(run)}*`, note ? `> ${note}` : '', run.text].filter(Boolean).join('\n\n');
}

/** The whole comparison (every turn, every model) as Markdown. */
export function sessionMarkdown(session: Session, name: (model: string) => string): string {
  const parts = ['# Tributary comparison', session.conversationId ? `Conversation \`${session.conversationId}\`` : ''];
  session.turns.forEach((turn: Turn, i) => {
    parts.push(`## Turn ${i + 1} (${turn.tier}, ${turn.status})`, quote(turn.prompt));
    for (const model of turn.models) parts.push(`### ${name(model)} (\`${model}\`)`, runMarkdown(turn.runs[model]!));
  });
  return parts.filter(Boolean).join('\n\n') + '\n';
}

/** One card: the model's thread. */
export function cardMarkdown(session: Session, model: string, name: string): string {
  const parts = [`# ${name} (\`${model}\`)`];
  for (const turn of session.turns) {
    const run = turn.runs[model];
    if (run) parts.push(quote(turn.prompt), runMarkdown(run));
  }
  return parts.join('\n\n') + '\n';
}

export function sessionJson(session: Session): string {
  return JSON.stringify({ exportedAt: new Date().toISOString(), conversationId: session.conversationId ?? null, turns: session.turns }, null, 2) + '\n';
}

const quote = (text: string) =>
  text
    .split('\n')
    .map((l) => `> ${l}`)
    .join('\n');
