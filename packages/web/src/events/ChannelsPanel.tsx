import { useState, type FormEvent } from 'react';
import type { ChannelView } from './console-session';

interface Props {
  channels: ChannelView[];
  errors: { channel: string; code: string; message: string }[];
  onSubscribe(channel: string): boolean;
  onUnsubscribe(channel: string): void;
  /** Use this channel in the publish form. */
  onPick(channel: string): void;
}

function answerText(c: ChannelView): string {
  const a = c.answer;
  if (!a) return 'subscribing…';
  if (!a.recovered) return `recovered:false (${a.reason}) · top ${a.top.epoch}:${a.top.seq}`;
  return `live · top ${a.top.epoch}:${a.top.seq}${a.replayed ? ` · replayed ${a.replayed}` : ''}`;
}

/** Subscribe form and the subscribed channels with the server's latest answer for each. */
export function ChannelsPanel({ channels, errors, onSubscribe, onUnsubscribe, onPick }: Props) {
  const [name, setName] = useState('public:demo');
  const [note, setNote] = useState<string>();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const channel = name.trim();
    if (!channel) return;
    setNote(onSubscribe(channel) ? undefined : `Already subscribed to ${channel}.`);
  };
  return (
    <section className="panel" aria-label="Channels">
      <h2>Channels</h2>
      <form className="row" onSubmit={submit}>
        <label className="visually-hidden" htmlFor="subscribe-channel">
          Channel to subscribe
        </label>
        <input id="subscribe-channel" value={name} onChange={(e) => setName(e.target.value)} placeholder="public:demo" spellCheck={false} autoComplete="off" />
        <button type="submit" className="primary">
          Subscribe
        </button>
      </form>
      {note && <p className="muted small">{note}</p>}
      {errors.map((e) => (
        <p key={e.channel} className="error small" role="alert" data-testid="channel-error">
          {e.channel}: {e.code} — {e.message}
        </p>
      ))}
      {channels.length === 0 ? (
        <p className="muted small">
          No channels yet. Anonymous connections may read <code>public:</code> channels.
        </p>
      ) : (
        <ul className="channel-list">
          {channels.map((c) => (
            <li key={c.channel} data-channel={c.channel} data-status={c.status}>
              <button type="button" className="link channel-name" onClick={() => onPick(c.channel)} title="Publish to this channel">
                {c.channel}
              </button>
              <span className={`small ${c.status === 'not_recovered' ? 'warn' : 'muted'}`} data-testid="channel-answer">
                {answerText(c)}
              </span>
              <button type="button" className="icon" onClick={() => onUnsubscribe(c.channel)} aria-label={`Unsubscribe ${c.channel}`}>
                Unsubscribe
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
