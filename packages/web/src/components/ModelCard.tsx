import { memo, useEffect, useLayoutEffect, useRef, useState, useSyncExternalStore } from 'react';
import { copyText } from '../copy';
import { cardMarkdown } from '../export';
import { count, outcome, rate, seconds, STATUS_LABEL } from '../format';
import { Markdown } from '../markdown/Markdown';
import { ENDED, liveStats, type ModelRun, type Turn } from '../state/turn';
import type { Workspace } from '../state/workspace';

/**
 * One model's thread. Redrawn when its model's stream moves (once per frame at most), and
 * when the session's structure changes (`structure` is its version).
 */
export const ModelCard = memo(function ModelCard(props: { workspace: Workspace; model: string; name: string; demo: boolean; structure: number }) {
  const { workspace, model, name, demo } = props;
  useSyncExternalStore(
    (cb) => workspace.subscribeModel(model, cb),
    () => workspace.modelVersion(model),
  );
  const [raw, setRaw] = useState(false);
  const [copied, setCopied] = useState<string>();
  const turns = workspace.session.turns.filter((t) => t.runs[model]);
  const latest = turns.at(-1);
  const run = latest?.runs[model];
  const status = run?.status ?? 'waiting';
  const { body, following, follow } = useAutoScroll();

  const copy = async () => {
    const ok = await copyText(cardMarkdown(workspace.session, model, name));
    setCopied(ok ? 'Copied' : 'Copy failed');
    setTimeout(() => setCopied(undefined), 1500);
  };

  return (
    <article className={`card status-${status}`} data-model={model} data-status={status} aria-label={`${name} (${STATUS_LABEL[status]})`}>
      <header className="card-head">
        <h3 title={model}>{name}</h3>
        {demo && <span className="badge demo">demo</span>}
        <span className={`pill pill-${status}`} role="status">
          {STATUS_LABEL[status]}
        </span>
        <div className="card-actions">
          <button type="button" className="icon" aria-pressed={raw} onClick={() => setRaw(!raw)} title="Show the raw text">
            {raw ? 'Rendered' : 'Raw'}
          </button>
          <button type="button" className="icon" onClick={copy} title="Copy this card as Markdown">
            {copied ?? 'Copy'}
          </button>
          <button type="button" className="icon" onClick={() => workspace.setHidden(model, true)} aria-label={`Hide ${name}`} title="Hide this card">
            Hide
          </button>
        </div>
      </header>
      {latest && run && <CardStats turn={latest} run={run} />}
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be focusable to scroll it with the keyboard */}
      <section className="card-body" ref={body} tabIndex={0} aria-label={`${name} answer`} aria-busy={status === 'streaming'}>
        {turns.map((turn, i) => (
          <TurnView
            key={turn.comparisonId}
            prompt={turns.length > 1 || i > 0 ? turn.prompt : undefined}
            run={turn.runs[model]!}
            text={turn.runs[model]!.text}
            status={turn.runs[model]!.status}
            raw={raw}
          />
        ))}
      </section>
      {!following && status === 'streaming' && (
        <button type="button" className="jump" onClick={follow}>
          ↓ Follow the stream
        </button>
      )}
    </article>
  );
});

const TurnView = memo(function TurnView(props: { prompt: string | undefined; run: ModelRun; text: string; status: ModelRun['status']; raw: boolean }) {
  const { prompt, run, text, status, raw } = props;
  const note = outcome(run);
  return (
    <div className="turn">
      {prompt !== undefined && (
        <p className="turn-prompt">
          <span className="visually-hidden">You asked: </span>
          {prompt}
        </p>
      )}
      <div className="answer" data-answer>
        {raw ? <pre className="raw">{text}</pre> : <Markdown text={text} streaming={!ENDED.has(status)} />}
        {status === 'waiting' && text === '' && <p className="muted typing">Waiting for the first token…</p>}
      </div>
      {note && (
        <p className={`outcome outcome-${status}`} role={status === 'failed' ? 'alert' : undefined} data-outcome={status}>
          {note}
        </p>
      )}
    </div>
  );
});

/** Live TTFT, tokens/s, elapsed and token counts; ticks on its own while the model runs. */
function CardStats({ turn, run }: { turn: Turn; run: ModelRun }) {
  const ended = ENDED.has(run.status);
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (ended) return;
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [ended]);
  const s = liveStats(run, turn, ended ? now : Math.max(now, Date.now()));
  return (
    <dl className="stats" data-testid="stats">
      <div>
        <dt>TTFT</dt>
        <dd data-stat="ttft">{seconds(s.ttftMs)}</dd>
      </div>
      <div>
        <dt>tok/s</dt>
        <dd data-stat="tps">{rate(s.tokensPerSecond)}</dd>
      </div>
      <div>
        <dt>elapsed</dt>
        <dd data-stat="elapsed">{seconds(s.elapsedMs)}</dd>
      </div>
      <div>
        <dt>tokens</dt>
        <dd data-stat="tokens">
          {count(s.outputTokens)}
          {s.inputTokens !== undefined ? ` out · ${count(s.inputTokens)} in` : ''}
        </dd>
      </div>
    </dl>
  );
}

/** Keeps a scroll box at its bottom while content grows, until the user scrolls away. */
function useAutoScroll() {
  const body = useRef<HTMLElement>(null);
  const stick = useRef(true);
  const [following, setFollowing] = useState(true);
  useLayoutEffect(() => {
    const el = body.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  });
  useEffect(() => {
    const el = body.current;
    if (!el) return;
    const onScroll = () => {
      const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 32;
      if (atBottom !== stick.current) {
        stick.current = atBottom;
        setFollowing(atBottom);
      }
    };
    el.addEventListener('scroll', onScroll, { passive: true });
    return () => el.removeEventListener('scroll', onScroll);
  }, []);
  const follow = () => {
    stick.current = true;
    setFollowing(true);
    if (body.current) body.current.scrollTop = body.current.scrollHeight;
  };
  return { body, following, follow };
}
