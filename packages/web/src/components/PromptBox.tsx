import type { TierLimits, Tier } from '@tributary/client';
import { useId, useState, type FormEvent, type KeyboardEvent } from 'react';
import { count } from '../format';

const TIERS: Tier[] = ['brief', 'standard', 'extended'];

/** Prompt, tier and the actions: Enter sends, Shift+Enter makes a new line. */
export function PromptBox(props: {
  tiers: Record<Tier, TierLimits>;
  tier: Tier;
  onTier: (tier: Tier) => void;
  canSend: boolean;
  followUp: boolean;
  running: boolean;
  cancellable: boolean;
  onSend: (prompt: string) => Promise<boolean>;
  onCancel: () => void;
  onNew: () => void;
}) {
  const [prompt, setPrompt] = useState('');
  const [sending, setSending] = useState(false);
  const id = useId();
  const limit = props.tiers[props.tier].maxInputChars;
  const over = prompt.length > limit;
  const ready = props.canSend && !over && prompt.trim() !== '' && !sending && !props.running;

  const send = async (e?: FormEvent) => {
    e?.preventDefault();
    if (!ready) return;
    setSending(true);
    try {
      if (await props.onSend(prompt)) setPrompt('');
    } finally {
      setSending(false);
    }
  };
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send();
    }
  };

  return (
    <form className="prompt" onSubmit={send}>
      <label htmlFor={id} className="visually-hidden">
        {props.followUp ? 'Follow-up' : 'Prompt'}
      </label>
      <textarea
        id={id}
        value={prompt}
        onChange={(e) => setPrompt(e.target.value)}
        onKeyDown={onKeyDown}
        placeholder={props.followUp ? 'Ask a follow-up: each model sees its own earlier answers…' : 'Ask every selected model at once…'}
        rows={3}
        aria-describedby={`${id}-count ${id}-hint`}
        aria-invalid={over}
      />
      <div className="prompt-bar">
        <div className="tiers" role="radiogroup" aria-label="Tier">
          {TIERS.map((t) => (
            <label
              key={t}
              className={`tier${props.tier === t ? ' active' : ''}`}
              title={`${count(props.tiers[t].maxInputChars)} characters in, ${count(props.tiers[t].maxOutputTokens)} tokens out`}
            >
              <input type="radio" name={`${id}-tier`} value={t} checked={props.tier === t} onChange={() => props.onTier(t)} />
              <span>{t}</span>
              <small>
                {count(props.tiers[t].maxInputChars)} / {count(props.tiers[t].maxOutputTokens)} tok
              </small>
            </label>
          ))}
        </div>
        <span id={`${id}-count`} className={`char-count${over ? ' over' : ''}`} data-testid="char-count">
          {count(prompt.length)} / {count(limit)}
        </span>
        <span id={`${id}-hint`} className="muted small hint">
          Enter sends · Shift+Enter new line
        </span>
        <div className="prompt-actions">
          {props.followUp && (
            <button type="button" onClick={props.onNew} disabled={props.running}>
              New conversation
            </button>
          )}
          {props.running && (
            <button type="button" className="danger" onClick={props.onCancel} disabled={!props.cancellable}>
              Cancel
            </button>
          )}
          <button type="submit" className="primary" disabled={!ready}>
            {props.followUp ? 'Send follow-up' : 'Send'}
          </button>
        </div>
      </div>
    </form>
  );
}
